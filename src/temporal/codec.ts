import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec, ValueError } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const ENCODING = 'binary/encrypted';
const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface EncryptionKeys {
  /** Key id written into new payloads. */
  currentKeyId: string;
  /** Every key that may still be needed to decrypt; must include the current one. */
  keys: ReadonlyMap<string, Buffer>;
}

export function parseKey(base64: string, label: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new Error(`${label} must be base64 of exactly 32 bytes (got ${key.length})`);
  return key;
}

/**
 * AES-256-GCM codec for every payload and failure attribute in Temporal history. The key id
 * travels in the payload metadata so old histories stay readable after a key rotation.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: EncryptionKeys) {
    if (!keys.keys.has(keys.currentKeyId))
      throw new Error(`encryption key "${keys.currentKeyId}" is not among the configured keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keys.currentKeyId;
    const key = this.keys.keys.get(keyId)!;
    return payloads.map((payload) => ({
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCODING),
        [KEY_ID_METADATA]: Buffer.from(keyId),
      },
      data: encrypt(temporal.api.common.v1.Payload.encode(payload).finish(), key),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString() !== ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.[KEY_ID_METADATA] ?? []).toString();
      const key = this.keys.keys.get(keyId);
      if (!key) throw new ValueError(`payload encrypted with unknown key id "${keyId}"`);
      if (!payload.data) throw new ValueError('encrypted payload has no data');
      return temporal.api.common.v1.Payload.decode(decrypt(payload.data, key));
    });
  }
}

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(data: Uint8Array, key: Buffer): Uint8Array {
  const buffer = Buffer.from(data);
  const iv = buffer.subarray(0, IV_BYTES);
  const tag = buffer.subarray(buffer.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(buffer.subarray(IV_BYTES, buffer.length - TAG_BYTES)), decipher.final()]);
}
