import { WorkflowNotFoundError } from '@temporalio/client';
import { fingerprintCredential } from '../../src/stores';
import { rotationWorkflowId } from '../../src/inventory';
import { createDiscoveredCredentialsRepository } from '../../src/db/discovered-credentials';
import type { DiscoveredCredential } from '../../src/discovery/credential-schemas';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

/** A managed account-scoped service token as a discovery run records it. */
const discovered = (accountId: string, id: string, name: string): DiscoveredCredential => ({
  accountId,
  kind: 'service-token',
  id,
  zoneId: null,
  name,
  managed: true,
  inventoryName: name,
  status: 'active',
  expiresAt: null,
  lastUsedAt: null,
  createdAt: null,
  overPrivileged: null,
  permissions: null,
});

const SERVICE_TOKEN_OPS = [
  'access-service-tokens-list-service-tokens',
  'access-service-tokens-get-a-service-token',
  'access-service-tokens-rotate-a-service-token',
  'access-service-tokens-create-a-service-token',
  'access-service-tokens-update-a-service-token',
  'access-service-tokens-delete-a-service-token',
];

describe('service-token rotation through the API, on the real stack', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([
      { name: 'ci-api', strategy: 'rotate-secret' },
      { name: 'registry', strategy: 'replace' },
      { name: 'batch', strategy: 'rotate-secret', stores: 'file', propagationWait: '1 hour' },
      { name: 'quiet', strategy: 'rotate-secret', stores: 'file', probe: false },
    ]);
  });
  afterAll(async () => f?.close());

  const workflowId = (name: string) => rotationWorkflowId(f.accountId, name);

  it('rotates a rotate-secret token into all five stores, verified by the probe, within its Cloudflare call budget', async () => {
    const app = await f.stack.app();
    const old = f.tokens['ci-api']!;
    f.stack.sim.calls.reset();
    const response = await app.inject({
      method: 'POST',
      url: '/service-tokens/ci-api/rotate',
      headers: f.stack.auth,
      payload: { reason: 'monthly' },
    });
    expect(response.statusCode).toBe(202);
    expect(response.json().data.workflow_id).toBe(workflowId('ci-api'));
    const result = await f.waitForRotation(workflowId('ci-api'));
    expect(result).toMatchObject({
      status: 'completed',
      strategy: 'rotate-secret',
      tokenId: old.id,
      clientId: old.clientId,
      recoveredLostSecret: false,
    });

    // Every store holds the new credential; the old secret is retired, the new one works.
    const now = f.fileCredential('ci-api');
    expect(now.clientId).toBe(old.clientId);
    expect(now.clientSecret).not.toBe(old.clientSecret);
    expect(fingerprintCredential(now)).toBe(result.fingerprint);
    expect(f.k8s.value('apps', 'ci-api-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(now.clientSecret);
    expect(
      f.github.secret({ owner: 'acme', repo: 'deploy', environment: 'production' }, 'CI_API_SECRET')?.plaintext,
    ).toBe(now.clientSecret);
    expect(
      f.stack.sim.state.workerSecretMatches({
        accountId: f.accountId,
        scriptName: f.stack.sim.demo!.workerScript.name,
        name: 'ci_api_secret',
        value: now.clientSecret,
      }),
    ).toBe(true);
    expect(
      f.stack.sim.state.secretsStoreSecretMatches({
        storeId: f.stack.sim.demo!.secretsStore.id,
        name: 'ci_api_secret',
        value: now.clientSecret,
      }),
    ).toBe(true);
    expect(await f.probe(now)).toBe(200);
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(403);
    expect(f.k8s.violations).toEqual([]);
    expect(f.github.violations).toEqual([]);

    // Budget: 1 read (resolve), 1 rotate, 1 update of the previous secret at retire, + the probe.
    const counts = f.stack.sim.calls.counts();
    const tokenCalls = Object.fromEntries(
      SERVICE_TOKEN_OPS.map((op) => [op, Object.values(counts[op] ?? {}).reduce((a, b) => a + b, 0)]),
    );
    expect(tokenCalls).toEqual({
      'access-service-tokens-list-service-tokens': 1,
      'access-service-tokens-get-a-service-token': 0,
      'access-service-tokens-rotate-a-service-token': 1,
      'access-service-tokens-create-a-service-token': 0,
      'access-service-tokens-update-a-service-token': 1,
      'access-service-tokens-delete-a-service-token': 0,
    });
    expect(f.stack.sim.calls.count('probe')).toBeGreaterThanOrEqual(1);

    // History: one row, every step, readable through /rotations and /workflows/:id.
    const rotations = (
      await app.inject({ method: 'GET', url: '/rotations?token=ci-api', headers: f.stack.auth })
    ).json();
    expect(rotations.data.rotations[0]).toMatchObject({
      token: 'ci-api',
      status: 'completed',
      mode: 'manual',
      triggered_by: 'api:test-client',
      strategy: 'rotate-secret',
    });
    expect(rotations.data.rotations[0].steps.map((s: { step: string }) => s.step)).toEqual([
      'resolve',
      'issue',
      'propagate',
      'verify',
      'wait',
      'retire',
      'finish',
    ]);
    expect(JSON.stringify(rotations)).not.toContain(now.clientSecret);
    const workflow = (
      await app.inject({ method: 'GET', url: `/workflows/${workflowId('ci-api')}`, headers: f.stack.auth })
    ).json();
    expect(workflow.data).toMatchObject({ type: 'rotateServiceToken', status: 'COMPLETED' });
    expect(workflow.data.search_attributes).toMatchObject({
      TokenName: 'ci-api',
      CloudflareAccountId: f.accountId,
      RotationStrategy: 'rotate-secret',
    });
    expect(workflow.data.steps.map((s: { activity: string }) => s.activity)).toEqual(
      expect.arrayContaining([
        // The plan and 1. resolve in one activity; 6. retire and 7. finish in another.
        'planAndResolveServiceToken',
        'issueRotatedSecret',
        'propagateToStore',
        'verifyStore',
        'probeCredential',
        'retirePreviousSecretAndPromote',
      ]),
    );
  });

  it('replaces a token blue/green: new token bound beside the old, old one unbound and deleted', async () => {
    // Cloudflare's listing kept a minute, as in production: the rotation's end must refresh it.
    const app = await f.stack.app({ expiryTtlMs: 60_000 });
    const old = f.tokens['registry']!;
    const listed = async () =>
      (await app.inject({ method: 'GET', url: '/service-tokens', headers: f.stack.auth }))
        .json()
        .data.service_tokens.find((t: { name: string }) => t.name === 'registry');
    expect((await listed()).token_id).toBe(old.id);
    expect(
      (await app.inject({ method: 'POST', url: '/service-tokens/registry/rotate', headers: f.stack.auth })).statusCode,
    ).toBe(202);
    const result = await f.waitForRotation(workflowId('registry'));
    expect(result.strategy).toBe('replace');
    expect(result.tokenId).not.toBe(old.id);
    expect(f.stack.sim.state.getServiceToken(old.id)).toBeUndefined();
    expect(f.stack.sim.state.policiesNamingServiceToken(f.accountId, result.tokenId).map((p) => p.name)).toEqual([
      'rotation tests',
    ]);
    expect(f.stack.sim.state.policiesNamingServiceToken(f.accountId, old.id)).toEqual([]);
    const now = f.fileCredential('registry');
    expect(now.clientId).toBe(result.clientId);
    expect(await f.probe(now)).toBe(200);
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(403);
    const fresh = await listed();
    expect(fresh).toMatchObject({ token_id: result.tokenId, last_rotation: { status: 'completed' } });
    expect(fresh.expires_at).toBe(f.stack.sim.state.getServiceToken(result.tokenId)!.expires_at);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'registry', limit: 1 });
    expect(row?.steps.map((s) => s.step)).toEqual([
      'resolve',
      'issue',
      'bind',
      'propagate',
      'verify',
      'wait',
      'retire',
      'finish',
    ]);
  });

  it('starts exactly one rotation for 50 concurrent requests; the others get 409 with its id', async () => {
    const app = await f.stack.app();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        app.inject({ method: 'POST', url: '/service-tokens/batch/rotate', headers: f.stack.auth }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    expect(responses.find((r) => r.statusCode === 409)!.json().error).toMatchObject({
      code: 'conflict',
      workflow_id: workflowId('batch'),
    });
    // It now waits an hour before retiring; an emergency revoke cuts that short.
    const handle = f.stack.client.workflow.getHandle(workflowId('batch'));
    const deadline = Date.now() + 30_000;
    while ((await handle.query<{ phase: string }>('progress')).phase !== 'wait' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    const old = f.tokens['batch']!;
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(200); // overlap: still accepted
    const revoke = await app.inject({
      method: 'POST',
      url: '/service-tokens/batch/revoke',
      headers: f.stack.auth,
      payload: { reason: 'leaked in a log' },
    });
    expect(revoke.statusCode).toBe(202);
    const result = await f.waitForRotation(workflowId('batch'));
    expect(result.emergency).toBe(true);
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(403);
    expect(await f.probe(f.fileCredential('batch'))).toBe(200);
    const audit = await f.stack.history.listAudit(50, 'batch');
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'api:test-client',
          action: 'revoke.request',
          details: expect.objectContaining({ reason: 'leaked in a log' }),
        }),
      ]),
    );
  });

  it('revokes with no rotation running: the old secret dies first, a new one reaches every store', async () => {
    const app = await f.stack.app();
    const before = f.fileCredential('ci-api'); // current after the first test's rotation
    expect(await f.probe(before)).toBe(200);
    // Discovery has recorded the token (its daily run): the rotate is the revoke's first request.
    const tokenId = f.stack.sim.state.serviceTokens
      .list({ kind: 'account', accountId: f.accountId })
      .find((t) => t.name === 'ci-api')!.id;
    await createDiscoveredCredentialsRepository(f.stack.db.pool).upsertCredentials('test-discovery', [
      discovered(f.accountId, tokenId, 'ci-api'),
    ]);
    const requests: string[] = [];
    const stopWatching = f.stack.sim.calls.onRequest((event) => {
      if (event.path?.includes('/access/service_tokens')) requests.push(event.operationId);
    });
    const response = await app.inject({
      method: 'POST',
      url: '/service-tokens/ci-api/revoke',
      headers: f.stack.auth,
      payload: { reason: 'laptop stolen' },
    });
    expect(response.statusCode).toBe(202);
    const result = await f.waitForRotation(workflowId('ci-api'));
    stopWatching();
    expect(result).toMatchObject({ emergency: true, strategy: 'rotate-secret' });
    expect(requests.slice(0, 2)).toEqual([
      'access-service-tokens-rotate-a-service-token',
      'access-service-tokens-list-service-tokens',
    ]);
    expect(await f.probe(before)).toBe(403);
    const after = f.fileCredential('ci-api');
    expect(after.clientSecret).not.toBe(before.clientSecret);
    expect(await f.probe(after)).toBe(200);
    expect(f.k8s.value('apps', 'ci-api-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(after.clientSecret);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'ci-api', limit: 1 });
    expect(row).toMatchObject({ mode: 'emergency', status: 'completed' });
    expect(row?.steps.map((s) => s.step)).toContain('confirm revoked');
  });

  it('answers a dry run with the plan and changes nothing; unknown tokens get 404; bad bodies 400', async () => {
    const app = await f.stack.app();
    const dry = await app.inject({
      method: 'POST',
      url: '/service-tokens/quiet/rotate?dry_run=true',
      headers: f.stack.auth,
    });
    expect(dry.statusCode).toBe(200);
    expect(dry.json().data).toMatchObject({
      dry_run: true,
      strategy: 'rotate-secret',
      workflow_id: workflowId('quiet'),
      targets: [expect.stringMatching(/^file:/)],
    });
    await expect(f.stack.client.workflow.getHandle(workflowId('quiet')).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    expect(
      (await app.inject({ method: 'POST', url: '/service-tokens/nope/rotate', headers: f.stack.auth })).statusCode,
    ).toBe(404);
    const bad = await app.inject({
      method: 'POST',
      url: '/service-tokens/quiet/revoke',
      headers: f.stack.auth,
      payload: {},
    });
    expect(bad.statusCode).toBe(400);
    await expect(f.stack.client.workflow.getHandle(workflowId('quiet')).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });

  it('lists the inventory with expiry and last rotation', async () => {
    const app = await f.stack.app();
    const body = (await app.inject({ method: 'GET', url: '/service-tokens', headers: f.stack.auth })).json();
    const ci = body.data.service_tokens.find((t: { name: string }) => t.name === 'ci-api');
    expect(ci).toMatchObject({
      strategy: 'rotate-secret',
      token_id: f.tokens['ci-api']!.id,
      last_rotation: { status: 'completed' },
    });
    expect(ci.days_to_expiry).toBeGreaterThan(300);
    expect(ci.targets).toHaveLength(5);
  });

  it('exposes Prometheus metrics for rotations and service-token expiry, behind the bearer token', async () => {
    const app = await f.stack.app();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const response = await app.inject({ method: 'GET', url: '/metrics', headers: f.stack.auth });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.body).toContain(
      `token_warden_rotations{account_id="${f.accountId}",token="registry",status="completed"} 1`,
    );
    const quietExpiresAt = Number(
      new RegExp(
        `^token_warden_service_token_expiration_timestamp_seconds\\{account_id="${f.accountId}",token="quiet"\\} (\\S+)$`,
        'm',
      ).exec(response.body)?.[1],
    );
    expect((quietExpiresAt - Date.now() / 1000) / 86_400).toBeGreaterThan(364);
    expect((quietExpiresAt - Date.now() / 1000) / 86_400).toBeLessThan(366);
    expect(response.body).toMatch(
      /token_warden_service_token_last_rotation_timestamp_seconds\{[^}]*token="ci-api"\} \d+/,
    );
  });
});
