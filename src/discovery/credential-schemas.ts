import { z } from 'zod';

export const credentialKindSchema = z.enum(['service-token', 'account-api-token', 'user-api-token']);

/**
 * One credential as discovery records it: ids, names, dates and permission-group names. Never a
 * secret (Cloudflare's lists carry none), so it may travel through activity results.
 */
export const discoveredCredentialSchema = z.object({
  accountId: z.string(),
  kind: credentialKindSchema,
  id: z.string(),
  /** Zone-level Access service tokens only. */
  zoneId: z.string().nullable(),
  name: z.string(),
  managed: z.boolean(),
  /** The inventory entry it matched (by id, cached identity or name). */
  inventoryName: z.string().nullable(),
  status: z.string(),
  expiresAt: z.string().nullable(),
  /** Access `last_seen_at`; API tokens' `last_used_on` where Cloudflare reports it. */
  lastUsedAt: z.string().nullable(),
  createdAt: z.string().nullable(),
  /** Allowed permission groups beyond the inventory's required list; null where not evaluated. */
  overPrivileged: z.array(z.string()).nullable(),
  /** API tokens: the permission-group names their policies allow; null for service tokens. */
  permissions: z.array(z.string()).nullable(),
});

/** The fields discovery reads of a listed Access service token (the SDK's type lacks `last_seen_at`). */
export const listedServiceTokenSchema = z.object({
  id: z.string(),
  name: z.string().default(''),
  expires_at: z.string().nullish(),
  created_at: z.string().nullish(),
  last_seen_at: z.string().nullish(),
  enabled: z.boolean().optional(),
});

const listedPolicySchema = z.object({
  effect: z.enum(['allow', 'deny']),
  permission_groups: z.array(z.object({ id: z.string(), name: z.string().optional() })).default([]),
  resources: z.record(z.string(), z.union([z.string(), z.record(z.string(), z.string())])).default({}),
});

/** The fields discovery reads of a listed API token (never its value: lists carry none). */
export const listedApiTokenSchema = z.object({
  id: z.string(),
  name: z.string().default(''),
  status: z.string().default('active'),
  expires_on: z.string().nullish(),
  issued_on: z.string().nullish(),
  last_used_on: z.string().nullish(),
  policies: z.array(listedPolicySchema).default([]),
});

export type CredentialKind = z.infer<typeof credentialKindSchema>;

/** One list discovery read in full: a kind of credential in an account (service tokens: or one of its zones). */
export interface DiscoveryScope {
  accountId: string;
  kind: CredentialKind;
  zoneId: string | null;
}
export type DiscoveredCredential = z.infer<typeof discoveredCredentialSchema>;
export type ListedServiceToken = z.infer<typeof listedServiceTokenSchema>;
export type ListedApiToken = z.infer<typeof listedApiTokenSchema>;
