import { z } from 'zod';

/**
 * The simulator's persisted state. Secrets are stored only as SHA-256 fingerprints
 * (`*Hash` fields); the demo section is the one exception, see seed-demo.ts.
 */
const Iso = z.string();

export const TokenResourcesSchema = z.record(z.string(), z.union([z.string(), z.record(z.string(), z.string())]));

export const ApiTokenPolicySchema = z.object({
  id: z.string(),
  effect: z.enum(['allow', 'deny']),
  permission_groups: z.array(z.object({ id: z.string() })),
  resources: TokenResourcesSchema,
});

export const RequestIpConditionSchema = z.object({
  in: z.array(z.string()).optional(),
  not_in: z.array(z.string()).optional(),
});

export const ApiTokenOwnerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user') }),
  z.object({ kind: z.literal('account'), accountId: z.string() }),
]);

export const ApiTokenRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: ApiTokenOwnerSchema,
  valueHash: z.string(),
  status: z.enum(['active', 'disabled', 'expired']),
  issued_on: Iso,
  modified_on: Iso,
  last_used_on: Iso.nullable(),
  not_before: Iso.nullable(),
  expires_on: Iso.nullable(),
  policies: z.array(ApiTokenPolicySchema),
  requestIp: RequestIpConditionSchema.nullable(),
});

export const ServiceTokenScopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('account'), accountId: z.string() }),
  z.object({ kind: z.literal('zone'), zoneId: z.string() }),
]);

export const ServiceTokenRecordSchema = z.object({
  id: z.string(),
  scope: ServiceTokenScopeSchema,
  name: z.string(),
  client_id: z.string(),
  secretHash: z.string(),
  client_secret_version: z.number(),
  previousSecretHash: z.string().nullable(),
  previous_client_secret_expires_at: Iso.nullable(),
  duration: z.string(),
  expires_at: Iso.nullable(),
  created_at: Iso,
  updated_at: Iso,
  last_seen_at: Iso.nullable(),
  enabled: z.boolean(),
});

export const AccessRuleSchema = z.record(z.string(), z.unknown());

export const AccessPolicyRecordSchema = z.object({
  id: z.string(),
  accountId: z.string(),
  /** null: a reusable policy; otherwise the app that owns this app-scoped policy. */
  appId: z.string().nullable(),
  name: z.string(),
  decision: z.enum(['allow', 'deny', 'non_identity', 'bypass']),
  include: z.array(AccessRuleSchema),
  exclude: z.array(AccessRuleSchema),
  require: z.array(AccessRuleSchema),
  session_duration: z.string(),
  /** Optional policy settings we keep and echo but do not interpret. */
  extra: z.record(z.string(), z.unknown()),
  created_at: Iso,
  updated_at: Iso,
});

export const AccessAppPolicyLinkSchema = z.object({ policyId: z.string(), precedence: z.number() });

export const AccessAppRecordSchema = z.object({
  id: z.string(),
  accountId: z.string(),
  name: z.string(),
  domain: z.string(),
  type: z.string(),
  aud: z.string(),
  session_duration: z.string(),
  policies: z.array(AccessAppPolicyLinkSchema),
  created_at: Iso,
  updated_at: Iso,
});

export const WorkerSecretRecordSchema = z.discriminatedUnion('type', [
  z.object({ name: z.string(), type: z.literal('secret_text'), valueHash: z.string() }),
  z.object({
    name: z.string(),
    type: z.literal('secret_key'),
    format: z.enum(['raw', 'pkcs8', 'spki', 'jwk']),
    algorithm: z.record(z.string(), z.unknown()),
    usages: z.array(z.string()),
    valueHash: z.string(),
  }),
]);

export const WorkerScriptRecordSchema = z.object({
  accountId: z.string(),
  /** null for an account script; the dispatch namespace for a Workers for Platforms script. */
  namespace: z.string().nullable(),
  name: z.string(),
  created_on: Iso,
  modified_on: Iso,
  /** Bumped on every secret change: each change is a new Worker version. */
  version: z.number(),
  secrets: z.record(z.string(), WorkerSecretRecordSchema),
});

export const SecretsStoreRecordSchema = z.object({
  id: z.string(),
  accountId: z.string(),
  name: z.string(),
  created: Iso,
  modified: Iso,
});

export const SecretsStoreSecretRecordSchema = z.object({
  id: z.string(),
  storeId: z.string(),
  name: z.string(),
  comment: z.string(),
  scopes: z.array(z.string()),
  status: z.enum(['pending', 'active', 'deleted']),
  valueHash: z.string(),
  created: Iso,
  modified: Iso,
});

export const DemoApiTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.enum(['user', 'account']),
  value: z.string().nullable(),
});

export const DemoServiceTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  scope: z.enum(['account', 'zone']),
  clientId: z.string(),
  clientSecret: z.string().nullable(),
  expiresAt: Iso.nullable(),
});

export const DemoSeedSchema = z.object({
  accountId: z.string(),
  accountName: z.string(),
  zoneId: z.string(),
  zoneName: z.string(),
  userId: z.string(),
  userEmail: z.string(),
  apiTokens: z.object({ warden: DemoApiTokenSchema, user: DemoApiTokenSchema, account: DemoApiTokenSchema }),
  accountTokenMissingPermissions: z.array(z.string()),
  serviceTokens: z.array(DemoServiceTokenSchema),
  accessApp: z.object({ id: z.string(), name: z.string(), domain: z.string(), aud: z.string() }),
  accessPolicies: z.object({
    reusable: z.object({ id: z.string(), name: z.string() }),
    appScoped: z.object({ id: z.string(), name: z.string() }),
  }),
  workerScript: z.object({ name: z.string() }),
  dispatchScript: z.object({ namespace: z.string(), name: z.string() }),
  secretsStore: z.object({ id: z.string(), name: z.string() }),
});

export const SimDataSchema = z.object({
  version: z.literal(1),
  user: z.object({ id: z.string(), email: z.string() }),
  accounts: z.record(z.string(), z.object({ id: z.string(), name: z.string(), created_on: Iso })),
  zones: z.record(z.string(), z.object({ id: z.string(), name: z.string(), accountId: z.string() })),
  apiTokens: z.record(z.string(), ApiTokenRecordSchema),
  serviceTokens: z.record(z.string(), ServiceTokenRecordSchema),
  accessApps: z.record(z.string(), AccessAppRecordSchema),
  accessPolicies: z.record(z.string(), AccessPolicyRecordSchema),
  workerScripts: z.record(z.string(), WorkerScriptRecordSchema),
  secretsStores: z.record(z.string(), SecretsStoreRecordSchema),
  secretsStoreSecrets: z.record(z.string(), SecretsStoreSecretRecordSchema),
  secretsQuota: z.number(),
  demo: DemoSeedSchema.nullable(),
});
