import { guarded } from './store-error';
import type {
  ConsumersReady,
  PropagationStore,
  PropagationTargetKind,
  ReadBack,
  ServiceTokenCredential,
  WriteOptions,
  WriteReceipt,
} from './store-types';

export interface StoreParts {
  kind: PropagationTargetKind;
  label: string;
  /**
   * Writes the credential; `restore` writes the previous one the same way, without options: a
   * compensation writes every half, whatever a store may already hold.
   */
  put(credential: ServiceTokenCredential, operation: 'write' | 'restore', options: WriteOptions): Promise<WriteReceipt>;
  read(): Promise<ReadBack>;
  /** Only stores whose consumers must be restarted to pick a write up (see PropagationStore). */
  consumersReady?(receipt: WriteReceipt): Promise<ConsumersReady>;
}

/**
 * Every store goes through here, so whatever its SDK throws leaves as a StoreError with the
 * secret redacted and no `cause` (see store-error.ts), whichever store it came from.
 */
export function assembleStore(parts: StoreParts): PropagationStore {
  const { kind, label } = parts;
  const put = (credential: ServiceTokenCredential, operation: 'write' | 'restore', options: WriteOptions = {}) =>
    guarded({ store: label, operation, secrets: [credential.clientSecret] }, () =>
      parts.put(credential, operation, options),
    );
  return {
    kind,
    label,
    write: (credential, options) => put(credential, 'write', options),
    readBack: () => guarded({ store: label, operation: 'readBack', secrets: [] }, () => parts.read()),
    restore: async (previous) => {
      await put(previous, 'restore');
    },
    ...(parts.consumersReady
      ? {
          consumersReady: (receipt: WriteReceipt) =>
            guarded({ store: label, operation: 'readBack', secrets: [] }, () => parts.consumersReady!(receipt)),
        }
      : {}),
  };
}
