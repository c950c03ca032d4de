import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readBackConfirms } from '../../src/stores/evidence';
import { createFileStore } from '../../src/stores/file-store';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { StoreError } from '../../src/stores/store-error';
import { fileTargetSchema } from '../../src/stores/store-schemas';
import { expectNoSecretIn, randomCredential } from './credentials';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'file-store-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

function store(file: string, extra: Record<string, unknown> = {}) {
  return createFileStore(fileTargetSchema.parse({ kind: 'file', path: path.join(directory, file), ...extra }));
}

describe('file store', () => {
  it('writes an env file with mode 0600 that reads back as the credential fingerprint', async () => {
    const credential = randomCredential();
    const target = store('cf.env');

    const receipt = await target.write(credential);

    expect(receipt).toEqual({
      store: `file:${path.join(directory, 'cf.env')}`,
      fingerprint: fingerprintCredential(credential),
      changed: true,
      expected: { evidence: 'fingerprint', fingerprint: fingerprintCredential(credential) },
    });
    expect(await readFile(path.join(directory, 'cf.env'), 'utf8')).toBe(
      `CF_ACCESS_CLIENT_ID=${credential.clientId}\nCF_ACCESS_CLIENT_SECRET=${credential.clientSecret}\n`,
    );
    expect((await stat(path.join(directory, 'cf.env'))).mode & 0o777).toBe(0o600);
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
  });

  it('changes nothing when it already holds the credential', async () => {
    const credential = randomCredential();
    const target = store('cf.env');
    await target.write(credential);
    const before = await stat(path.join(directory, 'cf.env'));

    const again = await target.write(credential);

    expect(again.changed).toBe(false);
    expect((await stat(path.join(directory, 'cf.env'))).ino).toBe(before.ino);
  });

  it('restores the previous credential', async () => {
    const previous = randomCredential();
    const next = randomCredential();
    const target = store('cf.json', { format: 'json' });
    await target.write(previous);
    await target.write(next);

    await target.restore(previous);

    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: fingerprintCredential(previous) });
  });

  it('reads back null when the file or one of the keys is missing', async () => {
    const target = store('cf.env');
    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: null });
    await writeFile(path.join(directory, 'cf.env'), 'CF_ACCESS_CLIENT_ID=abc\n');
    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: null });
  });

  it('keeps the other lines of an env file and uses the configured keys', async () => {
    const file = path.join(directory, 'app.env');
    await writeFile(
      file,
      '# app settings\nexport LOG_LEVEL=debug\nAPP_ID=old\nAPP_ID=shadow\nDB_URL="postgres://x y"\n',
    );
    const credential = randomCredential();

    await store('app.env', { keys: { clientId: 'APP_ID', clientSecret: 'APP_SECRET' } }).write(credential);

    expect(await readFile(file, 'utf8')).toBe(
      `# app settings\nexport LOG_LEVEL=debug\nAPP_ID=${credential.clientId}\nDB_URL="postgres://x y"\nAPP_SECRET=${credential.clientSecret}\n`,
    );
  });

  it('quotes env values that need it and reads them back', async () => {
    const credential = { clientId: 'id with space', clientSecret: 'se"cr#et\\' };
    const target = store('cf.env');
    await target.write(credential);
    expect(await target.readBack()).toEqual({
      evidence: 'fingerprint',
      fingerprint: fingerprintCredential(credential),
    });
  });

  it('keeps the other keys of a JSON file', async () => {
    const file = path.join(directory, 'cf.json');
    await writeFile(file, JSON.stringify({ region: 'eu', CF_ACCESS_CLIENT_ID: 'old' }));
    const credential = randomCredential();

    await store('cf.json', { format: 'json' }).write(credential);

    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      region: 'eu',
      CF_ACCESS_CLIENT_ID: credential.clientId,
      CF_ACCESS_CLIENT_SECRET: credential.clientSecret,
    });
  });

  it('tightens a wider file mode to 0600 even when the content is already right', async () => {
    const credential = randomCredential();
    const target = store('cf.env');
    await target.write(credential);
    await chmod(path.join(directory, 'cf.env'), 0o644);

    expect((await target.write(credential)).changed).toBe(true);
    expect((await stat(path.join(directory, 'cf.env'))).mode & 0o777).toBe(0o600);
  });

  it('never shows a reader a partial file while writers race, and leaves no temporary files', async () => {
    const target = store('cf.env');
    const credentials = Array.from({ length: 40 }, randomCredential);
    const known = new Set(credentials.map(fingerprintCredential));
    await target.write(credentials[0]!);
    let writing = true;
    const seen: Array<string | null> = [];
    const reader = (async () => {
      while (writing) {
        const readBack = await target.readBack();
        seen.push(readBack.evidence === 'fingerprint' ? readBack.fingerprint : 'wrong evidence');
      }
    })();

    await Promise.all(credentials.map((credential) => target.write(credential)));
    writing = false;
    await reader;

    expect(seen.length).toBeGreaterThan(0);
    for (const fingerprint of seen) expect(known.has(fingerprint ?? 'partial')).toBe(true);
    expect(await readdir(directory)).toEqual(['cf.env']);
  });

  it('creates a missing parent directory, private like the file', async () => {
    const credential = randomCredential();
    const target = store('new/dir/cf.env');

    await target.write(credential);

    expect((await stat(path.join(directory, 'new/dir'))).mode & 0o777).toBe(0o700);
    expect(await target.readBack()).toEqual({
      evidence: 'fingerprint',
      fingerprint: fingerprintCredential(credential),
    });
  });

  it('fails without the secret in the error when the path cannot be written', async () => {
    await writeFile(path.join(directory, 'not-a-directory'), '');
    const credential = randomCredential();

    const error = await store('not-a-directory/cf.env')
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ operation: 'write', retryable: true });
    expect(['ENOTDIR', 'EEXIST']).toContain((error instanceof StoreError && error.reason) || '');
    expectNoSecretIn(error, credential);
  });

  it('refuses, without retrying, to overwrite a JSON file that is not an object', async () => {
    const file = path.join(directory, 'cf.json');
    await writeFile(file, '["keep me"]');
    const credential = randomCredential();

    const error = await store('cf.json', { format: 'json' })
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', retryable: false });
    expectNoSecretIn(error, credential);
    expect(await readFile(file, 'utf8')).toBe('["keep me"]');
  });

  it('never puts file content into the error when the JSON is broken', async () => {
    const file = path.join(directory, 'cf.json');
    const credential = randomCredential();
    await writeFile(file, `{"CF_ACCESS_CLIENT_SECRET": "${credential.clientSecret}"`);

    const error = await store('cf.json', { format: 'json' })
      .readBack()
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', reason: 'the file is not valid JSON' });
    expectNoSecretIn(error, credential);
  });
});
