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

/** Where R2's S3 credentials go when an `as: r2-s3` target does not name them. */
export const R2_S3_NAMES = { clientId: 'AWS_ACCESS_KEY_ID', clientSecret: 'AWS_SECRET_ACCESS_KEY' } as const;

const isObject = (raw: unknown): raw is Record<string, unknown> =>
  typeof raw === 'object' && raw !== null && !Array.isArray(raw);

/** A target without `keys`/`names` gets the names of what it holds, not the service-token ones. */
function withDefaultNames(raw: Record<string, unknown>, names: Record<'clientId' | 'clientSecret', string>): unknown {
  const field = NAMES_FIELD[String(raw.kind)];
  if (!field || field in raw) return raw;
  return { ...raw, [field]: names };
}

/**
 * One store of an API token: any propagation target, holding the token's id and value, or with
 * `as: r2-s3` R2's S3 credentials derived from them (stores/r2-credentials.ts).
 */
export const apiTokenTargetSchema = z.unknown().transform((raw, ctx) => {
  const { as = 'api-token', ...rest } = isObject(raw) ? raw : { kind: raw };
  const format = z.enum(['api-token', 'r2-s3']).safeParse(as);
  const names = format.success && format.data === 'r2-s3' ? R2_S3_NAMES : API_TOKEN_NAMES;
  const target = propagationTargetSchema.safeParse(withDefaultNames(rest, names));
  if (!format.success) ctx.addIssue({ code: 'custom', path: ['as'], message: 'must be api-token or r2-s3' });
  for (const issue of target.success ? [] : target.error.issues)
    ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  if (!format.success || !target.success) return z.NEVER;
  return format.data === 'r2-s3' ? { ...target.data, as: 'r2-s3' as const } : target.data;
});

/** A stored API-token target: the store's own target and the format it holds. */
export function splitApiTokenTarget(raw: unknown): { target: unknown; r2: boolean } {
  if (!isObject(raw) || raw.as === undefined) return { target: raw, r2: false };
  const { as, ...target } = raw;
  return { target, r2: as === 'r2-s3' };
}

/**
 * `rotate:` of an API token. `successor` (default) creates a new token with the old one's
 * policies, condition and a fresh expiry, propagates it, verifies it and deletes the old one:
 * no consumer ever holds a dead value. `roll` asks Cloudflare for a new value of the same token
 * (`PUT …/tokens/{id}/value`): the old value dies at once, so only for consumers that tolerate a
 * cut-over.
 */
export const apiTokenRotateSchema = z.strictObject({
  strategy: z.enum(['successor', 'roll']).default('successor'),
  /** How often a rotation is due regardless of expiry: the daily sweep rotates a value older than this. */
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
