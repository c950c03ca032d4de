import { startGithubFake, type GithubFake } from '../fakes/github-api';
import { startKubernetesFake, type KubernetesFake } from '../fakes/kubernetes-api';
import path from 'node:path';
import { OpenApiContract, sharedDocument } from '../fakes/openapi-contract';

let kubernetes: KubernetesFake;
let github: GithubFake;

beforeEach(async () => {
  [kubernetes, github] = await Promise.all([startKubernetesFake(), startGithubFake()]);
});

afterEach(async () => {
  await Promise.all([kubernetes.close(), github.close()]);
});

// The store tests lean on the fakes' contract checks; these show the checks are not vacuous.
describe('contract checks of the loopback fakes', () => {
  it('reject a Kubernetes Secret whose data is not base64, and answer 422', async () => {
    const fake = kubernetes;
    const response = await fetch(`${fake.url}/api/v1/namespaces/apps/secrets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: { KEY: 'not base64!' } }),
    });
    expect(response.status).toBe(422);
    expect(fake.violations.join('\n')).toMatch(/\/data\/KEY must match format "byte"/);
  });

  it('answer 404 to a PUT of a missing Secret and 415 to an unknown patch type', async () => {
    const fake = kubernetes;
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'missing' }, data: {} };
    const put = await fetch(`${fake.url}/api/v1/namespaces/apps/secrets/missing`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(secret),
    });
    expect(put.status).toBe(404);
    fake.seed('apps', 'present', {});
    const patch = await fetch(`${fake.url}/api/v1/namespaces/apps/secrets/present`, {
      method: 'PATCH',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(patch.status).toBe(415);
    expect(fake.violations).toEqual([]);
  });

  it('apply merge and JSON patches, conditional on resourceVersion', async () => {
    const fake = kubernetes;
    const seeded = fake.seed('apps', 'app', { A: 'a' });
    const url = `${fake.url}/api/v1/namespaces/apps/secrets/app`;
    const stale = await fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { resourceVersion: '1' }, data: { B: 'Yg==' } }),
    });
    expect(stale.status).toBe(409);
    const merged = await fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { resourceVersion: seeded.metadata.resourceVersion }, data: { B: 'Yg==' } }),
    });
    expect(merged.status).toBe(200);
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'remove', path: '/data/A' }]),
    });
    expect(patched.status).toBe(200);
    expect(fake.secret('apps', 'app')?.data).toEqual({ B: 'Yg==' });
    expect(fake.violations).toEqual([]);
  });

  it('check apps/v1 workloads against their contract: schema, required fields, 404 and patch types', async () => {
    const contract = new OpenApiContract(path.join(__dirname, '../fakes/contracts/kubernetes-apps-v1.json'));
    const item = '/apis/apps/v1/namespaces/{namespace}/deployments/{name}';
    // A Deployment without a selector, replicas as text: both caught.
    expect(
      contract.responseProblems('GET', item, 200, {
        spec: { template: {} },
        status: { replicas: 'three' },
      }),
    ).toEqual([
      expect.stringMatching(/\/spec must have required property 'selector'/),
      expect.stringMatching(/\/status\/replicas must be integer/),
    ]);
    const fake = kubernetes;
    const missing = await fetch(`${fake.url}/apis/apps/v1/namespaces/apps/deployments/none`);
    expect(missing.status).toBe(404);
    fake.apps.seed('Deployment', 'apps', 'web');
    const read = await fetch(`${fake.url}/apis/apps/v1/namespaces/apps/deployments/web`);
    expect(await read.json()).toMatchObject({
      kind: 'Deployment',
      status: { observedGeneration: 1, updatedReplicas: 2 },
    });
    expect(fake.violations).toEqual([]);
    const jsonPatch = await fetch(`${fake.url}/apis/apps/v1/namespaces/apps/deployments/web`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path: '/spec/paused', value: true }]),
    });
    expect(jsonPatch.status).toBe(415);
    expect(fake.violations.join('\n')).toMatch(/applies only merge patches/);
  });

  it('reject a GitHub secret PUT without a key id', async () => {
    const fake = github;
    fake.add({ owner: 'acme', repo: 'api' });
    const response = await fetch(`${fake.url}/repos/acme/api/actions/secrets/X`, {
      method: 'PUT',
      headers: { authorization: `token ${fake.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ encrypted_value: 'c2VjcmV0' }),
    });
    expect(response.status).toBe(422);
    expect(fake.violations.join('\n')).toMatch(/must have required property 'key_id'/);
  });

  it('flag a response status the contract does not declare, and resolve nullable schemas', () => {
    const cloudflare = new OpenApiContract(sharedDocument('cloudflare-openapi/token-lifecycle.json'));
    const deleted = { success: true, errors: [], messages: [], result: null };
    expect(
      cloudflare.responseProblems(
        'DELETE',
        '/accounts/{account_id}/workers/scripts/{script_name}/secrets/{secret_name}',
        200,
        deleted,
      ),
    ).toEqual([]);
    const github = new OpenApiContract(sharedDocument('contracts/github-actions-secrets.json'));
    expect(github.responseProblems('GET', '/repos/{owner}/{repo}/actions/secrets/public-key', 500, {})).toEqual([
      'GET /repos/{owner}/{repo}/actions/secrets/public-key 500: status not declared',
    ]);
  });
});
