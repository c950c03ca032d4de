import { randomBytes } from 'node:crypto';
import type { ServiceTokenCredential } from '../../src/stores/store-types';

/** A credential shaped like Cloudflare's, made fresh for each test; nothing real is ever committed. */
export function randomCredential(): ServiceTokenCredential {
  return { clientId: `${randomBytes(16).toString('hex')}.access`, clientSecret: randomBytes(32).toString('hex') };
}

/** Every way an error could leak the secret: message, stack, own properties, cause. */
export function expectNoSecretIn(error: unknown, credential: ServiceTokenCredential): void {
  expect(error).toBeInstanceOf(Error);
  const { message, stack } = error instanceof Error ? error : new Error('not an error');
  const forms = [credential.clientSecret, Buffer.from(credential.clientSecret).toString('base64')];
  const surfaces = [message, stack ?? '', JSON.stringify(error), String(error instanceof Error ? error.cause : '')];
  for (const surface of surfaces) for (const form of forms) expect(surface).not.toContain(form);
}
