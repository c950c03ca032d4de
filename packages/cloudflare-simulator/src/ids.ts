import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Identifiers and secrets in the shapes Cloudflare uses. Everything comes from
 * crypto.randomBytes at run time; the simulator stores only SHA-256 fingerprints of
 * secrets, never the values.
 */
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** 32 lowercase hex characters: account, zone, API token and permission-group ids. */
export const newHexId = (): string => randomHex(16);

export const newUuid = (): string => randomUUID();

/** Access service token client id: `<32 hex>.access`. */
export const newClientId = (): string => `${randomHex(16)}.access`;

export function randomAlnum(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: reject the tail so every character is equally likely.
      if (byte < 248 && out.length < length) out += ALNUM[byte % 62];
    }
  }
  return out;
}

function checksum(body: string): string {
  const digest = createHash('sha256').update(body).digest();
  let out = '';
  for (let i = 0; i < 8; i += 1) out += ALNUM[(digest[i] ?? 0) % 62];
  return out;
}

/** New-style Access client secret: a `cfast_` prefix, 40 alphanumerics and an 8-character checksum. */
export function newServiceTokenSecret(): string {
  const body = `cfast_${randomAlnum(40)}`;
  return body + checksum(body);
}

/** New-style API token value: `cfut_` (user) or `cfat_` (account), 40 characters and a checksum. */
export function newApiTokenValue(owner: 'user' | 'account'): string {
  const body = `${owner === 'user' ? 'cfut_' : 'cfat_'}${randomAlnum(40)}`;
  return body + checksum(body);
}

/** SHA-256 fingerprint of a secret, as stored in state. */
export const fingerprint = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Constant-time comparison of a presented secret against a stored fingerprint. */
export function matchesFingerprint(secret: string, storedFingerprint: string | null | undefined): boolean {
  if (!storedFingerprint) return false;
  const a = Buffer.from(fingerprint(secret), 'hex');
  const b = Buffer.from(storedFingerprint, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Access application audience tag: 64 hex characters. */
export const newAud = (): string => randomHex(32);
