import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { EncryptionKeys } from '../temporal/codec';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SealedSecret {
  keyId: string;
  ciphertext: Buffer;
}

/**
 * AES-256-GCM for secrets at rest. Keys are derived (HKDF) from the payload-codec keys with a
 * purpose label, so one configured key never encrypts two kinds of data directly. The row's
 * reference is bound as associated data: a ciphertext copied to another row will not open.
 */
export function createSecretBox(keys: EncryptionKeys, purpose = 'token-warden/pending-secrets') {
  const derived = new Map<string, Buffer>();
  const keyFor = (keyId: string): Buffer => {
    let key = derived.get(keyId);
    if (!key) {
      const master = keys.keys.get(keyId);
      if (!master) throw new Error(`secret sealed with unknown key id "${keyId}"`);
      key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), purpose, 32));
      derived.set(keyId, key);
    }
    return key;
  };
  return {
    seal(plain: string, associatedData: string): SealedSecret {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keyFor(keys.currentKeyId), iv);
      cipher.setAAD(Buffer.from(associatedData));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return { keyId: keys.currentKeyId, ciphertext: Buffer.concat([iv, body, cipher.getAuthTag()]) };
    },
    open(sealed: SealedSecret, associatedData: string): string {
      const data = sealed.ciphertext;
      const decipher = createDecipheriv('aes-256-gcm', keyFor(sealed.keyId), data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(associatedData));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}

export type SecretBox = ReturnType<typeof createSecretBox>;
