import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, type EncryptionKeys } from './codec';

/**
 * The same converter on client and worker: payloads encrypted, and failure messages and
 * stack traces moved into the (encrypted) encoded attributes so error text never sits in
 * history in the clear.
 */
export function createDataConverter(keys: EncryptionKeys): DataConverter {
  return {
    payloadCodecs: [new AesGcmPayloadCodec(keys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
