import { z } from 'zod';
import { durationSchema } from './duration-schema';
import { propagationTargetSchema } from './stores/store-schemas';

/** Where an API token's id and value go in a store when the target does not name them. */
export const API_TOKEN_NAMES = { clientId: 'CLOUDFLARE_API_TOKEN_ID', clientSecret: 'CLOUDFLARE_API_TOKEN' } as const;

/** The field of each target kind that names the two halves of the credential. */
const NAMES_FIELD: Record<string, 'keys' | 'names'> = {
  file: 'keys',
  kubernetes: 'keys',
  github: 'names',
  'workers-secret': 'names',
  'secrets-store': 'names',
};

/** An API token's target without `keys`/`names` gets the API-token names, not the service-token ones. */
function withApiTokenNames(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const field = NAMES_FIELD[String((raw as { kind?: unknown }).kind)];
  if (!field || field in raw) return raw;
  return { ...raw, [field]: API_TOKEN_NAMES };
}

export const apiTokenTargetSchema = z.preprocess(withApiTokenNames, propagationTargetSchema);

/**
 * `rotate:` of an API token. `successor` (default) creates a new token with the old one's
 * policies, condition and a fresh expiry, propagates it, verifies it and deletes the old one:
 * no consumer ever holds a dead value. `roll` asks Cloudflare for a new value of the same token
 * (`PUT …/tokens/{id}/value`): the old value dies at once, so only for consumers that tolerate a
 * cut-over.
 */
export const apiTokenRotateSchema = z.strictObject({
  strategy: z.enum(['successor', 'roll']).default('successor'),
  /** How often a rotation is due; none: only on demand and before expiry. */
  every: durationSchema.optional(),
  /** Renew once the token is this close to expiring. */
  renewBefore: durationSchema.default('720h'),
  /** Lifetime of a successor (its `expires_on`). */
  duration: durationSchema.default('2160h'),
  /** The successor's name: `{name}` is the inventory name, `{date}` the run's day (YYYY-MM-DD). */
  name: z.string().min(1).max(100).default('{name}-{date}'),
  /** Durable wait between verification and deleting the old token. */
  propagationWait: durationSchema.default('30s'),
  targets: z.array(apiTokenTargetSchema).default([]),
});

export type ApiTokenRotateConfig = z.infer<typeof apiTokenRotateSchema>;

/** The successor's name for a run started on `startedAt`. */
export function successorName(template: string, inventoryName: string, startedAt: number): string {
  const date = new Date(startedAt).toISOString().slice(0, 10);
  return template.replaceAll('{name}', inventoryName).replaceAll('{date}', date);
}
