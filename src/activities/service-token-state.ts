import { z } from 'zod';
import { permanentFailure } from './failure-types';

/** The fields a rotation decides on; read from Cloudflare's JSON, which carries more than the SDK types. */
const serviceTokenStateSchema = z.looseObject({
  id: z.string(),
  client_id: z.string(),
  name: z.string(),
  expires_at: z.string().nullish(),
  created_at: z.string().nullish(),
  client_secret_version: z.number().default(1),
  previous_client_secret_expires_at: z.string().nullish(),
  enabled: z.boolean().default(true),
});

export interface ServiceTokenState {
  tokenId: string;
  clientId: string;
  secretVersion: number;
  expiresAt: string | null;
  createdAt: string | null;
  previousSecretExpiresAt: string | null;
  enabled: boolean;
}

export interface ResolvedServiceToken extends ServiceTokenState {
  /**
   * Ids of the other tokens of this name, oldest first: what an earlier run left valid on
   * purpose (a replace whose stores could not all be restored keeps both tokens) or by accident.
   * Absent: none.
   */
  strays?: string[];
}

export interface IssuedSecret {
  ref: string;
  fingerprint: string;
  tokenId: string;
  clientId: string;
  secretVersion: number;
}

/** Token data Cloudflare answered that does not have the fields a rotation decides on will not get better. */
export const toState = (raw: unknown): ServiceTokenState => {
  const parsed = serviceTokenStateSchema.safeParse(raw);
  if (!parsed.success)
    throw permanentFailure(
      'CloudflareContract',
      `Cloudflare answered service-token data without ${parsed.error.issues.map((i) => i.path.join('.') || 'a body').join(', ')}`,
    );
  const token = parsed.data;
  return {
    tokenId: token.id,
    clientId: token.client_id,
    secretVersion: token.client_secret_version,
    expiresAt: token.expires_at ?? null,
    createdAt: token.created_at ?? null,
    previousSecretExpiresAt: token.previous_client_secret_expires_at ?? null,
    enabled: token.enabled,
  };
};

/**
 * The version a rotate answered with. Read leniently: the new secret is staged by then, and a
 * final failure over a missing field would lose a rotation Cloudflare applied.
 */
export const secretVersionOf = (rotated: unknown, otherwise: number): number => {
  const version = (rotated as { client_secret_version?: unknown } | null)?.client_secret_version;
  return typeof version === 'number' ? version : otherwise;
};
