import { Octokit } from '@octokit/rest';
import { readBackConfirms } from '../../src/stores/evidence';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { createGithubStore } from '../../src/stores/github-store';
import { createStore } from '../../src/stores/registry';
import { githubTargetSchema, propagationTargetSchema } from '../../src/stores/store-schemas';
import { startGithubFake, type GithubFake, type ScopeRef } from '../fakes/github-api';
import { expectNoSecretIn, randomCredential } from './credentials';

let fake: GithubFake;

beforeEach(async () => {
  fake = await startGithubFake();
});

afterEach(async () => {
  await fake.close();
});

const quiet = () => undefined;
function octokit(auth = fake.token) {
  return new Octokit({ auth, baseUrl: fake.url, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
}

const scopes: Array<{ name: string; ref: ScopeRef; target: Record<string, unknown>; label: string }> = [
  {
    name: 'repository',
    ref: { owner: 'acme', repo: 'api' },
    target: { owner: 'acme', repo: 'api' },
    label: 'github:acme/api',
  },
  {
    name: 'environment',
    ref: { owner: 'acme', repo: 'api', environment: 'prod' },
    target: { owner: 'acme', repo: 'api', environment: 'prod' },
    label: 'github:acme/api@prod',
  },
  {
    name: 'organization',
    ref: { org: 'acme' },
    target: { org: 'acme', visibility: 'selected', selectedRepositoryIds: [1296269, 1296280] },
    label: 'github:org:acme',
  },
];

describe.each(scopes)('github store, $name scope', ({ ref, target: fields, label }) => {
  const store = (auth?: string) =>
    createGithubStore(githubTargetSchema.parse({ kind: 'github', ...fields }), octokit(auth));

  beforeEach(() => {
    fake.add(ref);
  });

  it('seals both values with the scope key so GitHub decrypts the credential', async () => {
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);

    expect(target.label).toBe(label);
    expect(fake.secret(ref, 'CF_ACCESS_CLIENT_ID')?.plaintext).toBe(credential.clientId);
    expect(fake.secret(ref, 'CF_ACCESS_CLIENT_SECRET')?.plaintext).toBe(credential.clientSecret);
    expect(receipt).toMatchObject({
      store: label,
      fingerprint: fingerprintCredential(credential),
      expected: { evidence: 'written-at' },
    });
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
    expect(fake.violations).toEqual([]);
  });

  it('writes the same credential again as an update with the same result', async () => {
    const credential = randomCredential();
    const target = store();
    await target.write(credential);

    const again = await target.write(credential);

    const puts = fake.requests.filter((request) => request.method === 'PUT').map((request) => request.status);
    expect(puts).toEqual([201, 201, 204, 204]);
    expect(fake.secret(ref, 'CF_ACCESS_CLIENT_SECRET')?.plaintext).toBe(credential.clientSecret);
    expect(readBackConfirms(again, await target.readBack())).toBe(true);
  });

  it('restores the previous credential', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    await target.write(randomCredential());

    await target.restore(previous);

    expect(fake.secret(ref, 'CF_ACCESS_CLIENT_ID')?.plaintext).toBe(previous.clientId);
    expect(fake.secret(ref, 'CF_ACCESS_CLIENT_SECRET')?.plaintext).toBe(previous.clientSecret);
    expect(fake.violations).toEqual([]);
  });

  it('reads back no write time while a secret is missing', async () => {
    expect(await store().readBack()).toEqual({ evidence: 'written-at', writtenAt: null });
  });

  it('keeps the secret and the sealed value out of a failed write’s error', async () => {
    fake.failNext('PUT', 502);
    const credential = randomCredential();

    const error = await store()
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', status: 502, retryable: true, operation: 'write' });
    expectNoSecretIn(error, credential);
    expect(JSON.stringify(error)).not.toContain('encrypted_value');
    expect(error instanceof Error ? error.stack : '').not.toContain('encrypted_value');
  });

  it('reports bad credentials as a permanent failure', async () => {
    const error = await store('wrong-token')
      .write(randomCredential())
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StoreError', status: 401, retryable: false });
  });
});

describe('github store', () => {
  it('sends visibility and the selected repositories with organization secrets', async () => {
    fake.add({ org: 'acme' });
    const target = githubTargetSchema.parse({
      kind: 'github',
      org: 'acme',
      visibility: 'selected',
      selectedRepositoryIds: [42],
    });

    await createGithubStore(target, octokit()).write(randomCredential());

    expect(fake.secret({ org: 'acme' }, 'CF_ACCESS_CLIENT_ID')).toMatchObject({
      visibility: 'selected',
      selected_repository_ids: [42],
    });
  });

  it('defaults organization secrets to private visibility', async () => {
    fake.add({ org: 'acme' });
    await createGithubStore(githubTargetSchema.parse({ kind: 'github', org: 'acme' }), octokit()).write(
      randomCredential(),
    );
    expect(fake.secret({ org: 'acme' }, 'CF_ACCESS_CLIENT_SECRET')?.visibility).toBe('private');
  });

  it('fails without retrying when the repository does not exist', async () => {
    const credential = randomCredential();
    const target = githubTargetSchema.parse({ kind: 'github', owner: 'acme', repo: 'missing' });

    const error = await createGithubStore(target, octokit())
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', status: 404, retryable: false });
    expectNoSecretIn(error, credential);
  });

  it('is built by the registry with the token from the configured environment variable', async () => {
    fake.add({ owner: 'acme', repo: 'api' });
    const target = propagationTargetSchema.parse({
      kind: 'github',
      owner: 'acme',
      repo: 'api',
      tokenEnv: 'ACME_GITHUB_TOKEN',
      baseUrl: fake.url,
      names: { clientId: 'ACCESS_ID', clientSecret: 'ACCESS_SECRET' },
    });
    const credential = randomCredential();

    await createStore(target, { env: { ACME_GITHUB_TOKEN: fake.token }, cloudflare: unusedCloudflare }).write(
      credential,
    );

    expect(fake.secret({ owner: 'acme', repo: 'api' }, 'ACCESS_SECRET')?.plaintext).toBe(credential.clientSecret);
    expect(fake.violations).toEqual([]);
  });

  it('refuses to configure without the token variable', () => {
    const target = propagationTargetSchema.parse({ kind: 'github', owner: 'acme', repo: 'api' });
    expect(() => createStore(target, { env: {}, cloudflare: unusedCloudflare })).toThrow(
      expect.objectContaining({
        name: 'StoreError',
        operation: 'configure',
        retryable: false,
        message: expect.stringContaining('GITHUB_TOKEN'),
      }),
    );
  });

  it.each([
    [{ owner: 'acme' }, 'give owner and repo'],
    [{}, 'give owner and repo'],
    [{ org: 'acme', owner: 'acme', repo: 'api' }, 'not both'],
    [{ org: 'acme', selectedRepositoryIds: [1] }, 'needs visibility'],
    [{ owner: 'acme', repo: 'api', visibility: 'all' }, 'organization secrets only'],
    [{ owner: 'acme', repo: 'api', names: { clientId: 'GITHUB_ID', clientSecret: 'X' } }, 'GITHUB_'],
  ])('rejects the target %j', (fields, problem) => {
    const result = propagationTargetSchema.safeParse({ kind: 'github', ...fields });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(problem);
  });
});

function unusedCloudflare(): never {
  throw new Error('no Cloudflare target in this test');
}
