import { targetLabel } from './target-label';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { assembleStore } from './assemble-store';
import { writeFileAtomic } from './atomic-file';
import { FileFormatError, parseCredentialFile, renderCredentialFile } from './file-format';
import { fingerprintCredential, fingerprintOfHalves } from './fingerprint';
import { StoreError, type StoreOperation } from './store-error';
import type { FileTarget, PropagationStore, WriteReceipt } from './store-types';

const FILE_MODE = 0o600;

interface CurrentFile {
  text: string;
  mode: number;
}

export function createFileStore(target: FileTarget): PropagationStore {
  const file = path.resolve(target.path);
  const label = targetLabel(target, undefined);

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

  /** Retrying will not fix a file someone else filled with something else. */
  async function permanentOnFormatError<T>(operation: StoreOperation, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (!(error instanceof FileFormatError)) throw error;
      throw new StoreError({ store: label, operation, reason: error.message, retryable: false });
    }
  }

  return assembleStore({
    kind: 'file',
    label,
    put: (credential, operation) =>
      permanentOnFormatError(operation, async (): Promise<WriteReceipt> => {
        const fingerprint = fingerprintCredential(credential);
        const current = await readCurrent();
        const unchanged = current !== null && current.mode === FILE_MODE && fingerprintOf(current) === fingerprint;
        if (!unchanged) {
          const text = renderCredentialFile(current?.text ?? null, target.format, target.keys, credential);
          await writeFileAtomic(file, text, FILE_MODE);
        }
        return { store: label, fingerprint, changed: !unchanged, expected: { evidence: 'fingerprint', fingerprint } };
      }),
    read: () =>
      permanentOnFormatError('readBack', async () => ({
        evidence: 'fingerprint',
        fingerprint: fingerprintOf(await readCurrent()),
      })),
  });
}

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  // Structural, not instanceof: under jest, Node's errors come from another realm.
  return typeof error === 'object' && error !== null && 'code' in error;
}
