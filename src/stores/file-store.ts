import { open } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file';
import { FileFormatError, parseCredentialFile, renderCredentialFile } from './file-format';
import { fingerprintCredential, fingerprintOfHalves } from './fingerprint';
import { guarded, StoreError, type StoreOperation } from './store-error';
import type { FileTarget, PropagationStore, ReadBack, ServiceTokenCredential, WriteReceipt } from './store-types';

const FILE_MODE = 0o600;

interface CurrentFile {
  text: string;
  mode: number;
}

export function createFileStore(target: FileTarget): PropagationStore {
  const file = path.resolve(target.path);
  const label = `file:${file}`;

  async function readCurrent(): Promise<CurrentFile | null> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isNodeError(error) && error.code === 'ENOENT') return null;
      throw error;
    }
    try {
      const { mode } = await handle.stat();
      return { text: await handle.readFile('utf8'), mode: mode & 0o777 };
    } finally {
      await handle.close();
    }
  }

  function fingerprintOf(current: CurrentFile | null): string | null {
    if (current === null) return null;
    const halves = parseCredentialFile(current.text, target.format, target.keys);
    return fingerprintOfHalves(halves.clientId, halves.clientSecret);
  }

  function put(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
    return run(operation, [credential.clientSecret], async () => {
      const fingerprint = fingerprintCredential(credential);
      const receipt = (changed: boolean): WriteReceipt => ({
        store: label,
        fingerprint,
        changed,
        expected: { evidence: 'fingerprint', fingerprint },
      });
      const current = await readCurrent();
      if (current !== null && current.mode === FILE_MODE && fingerprintOf(current) === fingerprint) {
        return receipt(false);
      }
      const text = renderCredentialFile(current?.text ?? null, target.format, target.keys, credential);
      await writeFileAtomic(file, text, FILE_MODE);
      return receipt(true);
    });
  }

  function run<T>(operation: StoreOperation, secrets: readonly string[], body: () => Promise<T>): Promise<T> {
    return guarded({ store: label, operation, secrets }, async () => {
      try {
        return await body();
      } catch (error) {
        if (!(error instanceof FileFormatError)) throw error;
        // Retrying will not fix a file someone else filled with something else.
        throw new StoreError({ store: label, operation, reason: error.message, retryable: false });
      }
    });
  }

  return {
    kind: 'file',
    label,
    write: (credential) => put(credential, 'write'),
    readBack: () =>
      run('readBack', [], async (): Promise<ReadBack> => ({ evidence: 'fingerprint', fingerprint: fingerprintOf(await readCurrent()) })),
    restore: async (previous) => {
      await put(previous, 'restore');
    },
  };
}

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  // Structural, not instanceof: under jest, Node's errors come from another realm.
  return typeof error === 'object' && error !== null && 'code' in error;
}
