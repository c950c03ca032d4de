import { createHash } from 'node:crypto';
import type { ServiceTokenCredential } from './store-types';

/**
 * R2's S3-compatible credentials of an API token, as Cloudflare documents their derivation: the
 * access key id is the token's id, the secret access key the SHA-256 (hex) of its value. An R2
 * consumer given these rotates with the token.
 */
export function r2S3Credential(apiToken: ServiceTokenCredential): ServiceTokenCredential {
  return {
    clientId: apiToken.clientId,
    clientSecret: createHash('sha256').update(apiToken.clientSecret).digest('hex'),
  };
}
