import type { z } from 'zod';
import type {
  AccessAppRecordSchema,
  AccessPolicyRecordSchema,
  AccessRuleSchema,
  ApiTokenOwnerSchema,
  ApiTokenPolicySchema,
  ApiTokenRecordSchema,
  DemoApiTokenSchema,
  DemoSeedSchema,
  DemoServiceTokenSchema,
  RequestIpConditionSchema,
  SecretsStoreRecordSchema,
  SecretsStoreSecretRecordSchema,
  ServiceTokenRecordSchema,
  ServiceTokenScopeSchema,
  SimDataSchema,
  TokenResourcesSchema,
  WorkerScriptRecordSchema,
  WorkerSecretRecordSchema,
} from './schema';

export type SimData = z.infer<typeof SimDataSchema>;
export type TokenResources = z.infer<typeof TokenResourcesSchema>;
export type ApiTokenPolicy = z.infer<typeof ApiTokenPolicySchema>;
export type ApiTokenOwner = z.infer<typeof ApiTokenOwnerSchema>;
export type ApiTokenRecord = z.infer<typeof ApiTokenRecordSchema>;
export type RequestIpCondition = z.infer<typeof RequestIpConditionSchema>;
export type ServiceTokenScope = z.infer<typeof ServiceTokenScopeSchema>;
export type ServiceTokenRecord = z.infer<typeof ServiceTokenRecordSchema>;
export type AccessRule = z.infer<typeof AccessRuleSchema>;
export type AccessPolicyRecord = z.infer<typeof AccessPolicyRecordSchema>;
export type AccessAppRecord = z.infer<typeof AccessAppRecordSchema>;
export type WorkerSecretRecord = z.infer<typeof WorkerSecretRecordSchema>;
export type WorkerScriptRecord = z.infer<typeof WorkerScriptRecordSchema>;
export type SecretsStoreRecord = z.infer<typeof SecretsStoreRecordSchema>;
export type SecretsStoreSecretRecord = z.infer<typeof SecretsStoreSecretRecordSchema>;
export type DemoSeed = z.infer<typeof DemoSeedSchema>;
export type DemoApiToken = z.infer<typeof DemoApiTokenSchema>;
export type DemoServiceToken = z.infer<typeof DemoServiceTokenSchema>;
