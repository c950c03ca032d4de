import { randomBytes, randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { heartbeatWhileRunning } from '../../src/activities/heartbeat';
import { createServiceTokenActivities, type IssuedSecret } from '../../src/activities/service-tokens';
import { createCloudflareClient } from '../../src/cloudflare/client';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import { createTestDatabase, type TestDatabase } from '../support/database';

const OPS = {
  rotate: 'access-service-tokens-rotate-a-service-token',
  create: 'access-service-tokens-create-a-service-token',
  delete: 'access-service-tokens-delete-a-service-token',
};
const quiet = { logger: new DefaultLogger('ERROR', () => undefined) };
/** The environment of one attempt: a retry is the same call with a higher attempt number. */
const attempt = (n: number) => new MockActivityEnvironment({ attempt: n }, quiet);

/** What Temporal does with a failure: retry it (final false), or stop (final true). */
async function failureOf(work: Promise<unknown>): Promise<{ type: string | undefined; final: boolean }> {
  const error: unknown = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return { type: error.type ?? undefined, final: error.nonRetryable === true };
}

/**
 * The retry and read-back branches of issue, create and delete: each attempt runs in a
 * MockActivityEnvironment against the simulator as a real HTTP server, with its fault injection
 * losing answers (applied, then the connection dropped) the way a flaky network would, and a
 * real Postgres holding the staged secrets.
 */
describe('service-token activities, attempt by attempt', () => {
  let sim: RunningSimulator;
  let db: TestDatabase;
  let accountId: string;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 'demo' });
    accountId = sim.demo!.accountId;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await sim?.close();
    await db?.drop();
  });
  afterEach(() => sim.faults.clear());

  /** A token of its own per test, and the activities that manage it. */
  function setup() {
    const tokenName = `svc-${randomBytes(4).toString('hex')}`;
    const pending = createPendingSecretStore(
      db.pool,
      createSecretBox({ currentKeyId: 'k', keys: new Map([['k', randomBytes(32)]]) }),
    );
    const service = createServiceTokenActivities({
      inventory: {
        accounts: [
          {
            id: accountId,
            apiTokens: [],
            serviceTokens: [
              {
                name: tokenName,
                strategy: 'rotate-secret',
                overlap: '1h',
                duration: '8760h',
                renewBefore: '720h',
                renewAction: 'rotate',
                propagationWait: '30s',
                targets: [],
              },
            ],
          },
        ],
      },
      wardenClient: (purpose) =>
        createCloudflareClient({ apiToken: sim.demo!.apiTokens.warden.value!, baseURL: sim.baseURL, purpose }),
      pending,
    });
    const old = sim.state.createServiceToken({ accountId, name: tokenName });
    const key = { accountId, tokenName };
    const named = () =>
      sim.state.serviceTokens.list({ kind: 'account', accountId }).filter((t) => t.name === tokenName);
    const works = async (ref: string) => {
      const { clientId, clientSecret } = await pending.open(ref);
      return sim.state.isServiceTokenCredentialValid(clientId, clientSecret);
    };
    return { service, pending, old, key, named, works };
  }

  describe('issueRotatedSecret', () => {
    const issue = (t: ReturnType<typeof setup>, ref: string) => ({
      ...t.key,
      tokenId: t.old.id,
      expectedVersion: 1,
      ref,
      previousSecretExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });

    it('on a retry after its answer was lost, returns the secret the first attempt staged without rotating again', async () => {
      const t = setup();
      const ref = randomUUID();
      const first = await attempt(1).run(t.service.issueRotatedSecret, issue(t, ref));
      const rotationsBefore = sim.calls.count(OPS.rotate);

      const retried = await attempt(2).run(t.service.issueRotatedSecret, issue(t, ref));

      expect(retried).toEqual(first);
      expect(sim.calls.count(OPS.rotate)).toBe(rotationsBefore);
      expect(t.named()[0]?.client_secret_version).toBe(2);
      expect(await t.works(ref)).toBe(true);
    });

    it('detects a rotate Cloudflare applied whose secret never arrived, and fails for good', async () => {
      const t = setup();
      const ref = randomUUID();
      sim.faults.add({ match: { operationId: OPS.rotate }, applyThenDrop: true, times: 1 });

      expect(await failureOf(attempt(1).run(t.service.issueRotatedSecret, issue(t, ref)))).toMatchObject({
        final: false,
      });
      const retried = attempt(2).run(t.service.issueRotatedSecret, issue(t, ref));

      expect(await failureOf(retried)).toEqual({ type: 'RotatedSecretLost', final: true });
      expect(t.named()[0]?.client_secret_version).toBe(2); // rotated once: the retry did not rotate again
      expect(await t.pending.find(ref)).toBeUndefined();
    });

    it('fails for good when the token disappeared before the retry', async () => {
      const t = setup();
      sim.state.serviceTokens.delete({ kind: 'account', accountId }, t.old.id);
      const retried = attempt(2).run(t.service.issueRotatedSecret, issue(t, randomUUID()));
      expect(await failureOf(retried)).toEqual({ type: 'ServiceTokenNotFound', final: true });
    });

    it('leaves a 5xx to Temporal to retry, and stops on a refusal', async () => {
      const t = setup();
      sim.faults.add({ match: { operationId: OPS.rotate }, status: 503, times: 1 });
      expect(await failureOf(attempt(1).run(t.service.issueRotatedSecret, issue(t, randomUUID())))).toEqual({
        type: 'CloudflareUnavailable',
        final: false,
      });
      sim.faults.add({ match: { operationId: OPS.rotate }, status: 403, times: 1 });
      expect(await failureOf(attempt(1).run(t.service.issueRotatedSecret, issue(t, randomUUID())))).toEqual({
        type: 'CloudflareRejected',
        final: true,
      });
      expect(t.named()[0]?.client_secret_version).toBe(1);
    });
  });

  describe('createReplacementToken', () => {
    const create = (t: ReturnType<typeof setup>, ref: string, notBefore: string) => ({
      ...t.key,
      oldTokenId: t.old.id,
      ref,
      notBefore,
      duration: '8760h',
    });

    it('finds the token a staged create made by reading back by name, and creates no other', async () => {
      const t = setup();
      const ref = randomUUID();
      const input = create(t, ref, sim.clock.nowIso());
      const first: IssuedSecret = await attempt(1).run(t.service.createReplacementToken, input);
      const createsBefore = sim.calls.count(OPS.create);

      const retried: IssuedSecret = await attempt(2).run(t.service.createReplacementToken, input);

      expect(retried).toEqual(first);
      expect(sim.calls.count(OPS.create)).toBe(createsBefore);
      expect(t.named().map((n) => n.id)).toEqual(expect.arrayContaining([t.old.id, first.tokenId]));
      expect(t.named()).toHaveLength(2);
    });

    it('deletes the orphan of a create whose answer was lost, then creates the one it stages', async () => {
      const t = setup();
      const ref = randomUUID();
      const input = create(t, ref, sim.clock.nowIso());
      sim.faults.add({ match: { operationId: OPS.create }, applyThenDrop: true, times: 1 });
      expect(await failureOf(attempt(1).run(t.service.createReplacementToken, input))).toMatchObject({ final: false });
      const [orphan] = t.named().filter((n) => n.id !== t.old.id);
      expect(orphan).toBeDefined();

      const retried: IssuedSecret = await attempt(2).run(t.service.createReplacementToken, input);

      expect(
        t
          .named()
          .map((n) => n.id)
          .sort(),
      ).toEqual([t.old.id, retried.tokenId].sort());
      expect(retried.tokenId).not.toBe(orphan?.id);
      expect(await t.works(ref)).toBe(true);
    });

    it('never takes a namesake that existed before the run for an orphan', async () => {
      const t = setup();
      const runStarted = sim.clock.nowIso();
      const stray = sim.state.createServiceToken({ accountId, name: t.key.tokenName });
      const input = { ...create(t, randomUUID(), runStarted), strays: [stray.id] };
      const retried: IssuedSecret = await attempt(2).run(t.service.createReplacementToken, input);
      expect(
        t
          .named()
          .map((n) => n.id)
          .sort(),
      ).toEqual([t.old.id, stray.id, retried.tokenId].sort());
    });

    it('fails for good when the staged replacement vanished from Cloudflare', async () => {
      const t = setup();
      const ref = randomUUID();
      const input = create(t, ref, sim.clock.nowIso());
      const first: IssuedSecret = await attempt(1).run(t.service.createReplacementToken, input);
      sim.state.serviceTokens.delete({ kind: 'account', accountId }, first.tokenId);
      const retried = attempt(2).run(t.service.createReplacementToken, input);
      expect(await failureOf(retried)).toEqual({ type: 'ReplacementTokenVanished', final: true });
    });
  });

  describe('deleteServiceToken', () => {
    it('succeeds for a token already gone, as a retry after a lost answer finds it', async () => {
      const t = setup();
      sim.faults.add({ match: { operationId: OPS.delete }, applyThenDrop: true, times: 1 });
      const input = { ...t.key, tokenId: t.old.id };
      expect(await failureOf(attempt(1).run(t.service.deleteServiceToken, input))).toMatchObject({ final: false });
      expect(t.named()).toEqual([]);

      await expect(attempt(2).run(t.service.deleteServiceToken, input)).resolves.toBeUndefined();
      expect(sim.calls.count(OPS.delete, 404)).toBeGreaterThan(0);
    });

    it('stops on a refusal, retries an outage', async () => {
      const t = setup();
      const input = { ...t.key, tokenId: t.old.id };
      sim.faults.add({ match: { operationId: OPS.delete }, status: 500, times: 1 });
      expect(await failureOf(attempt(1).run(t.service.deleteServiceToken, input))).toEqual({
        type: 'CloudflareUnavailable',
        final: false,
      });
      sim.faults.add({ match: { operationId: OPS.delete }, status: 403, times: 1 });
      expect(await failureOf(attempt(2).run(t.service.deleteServiceToken, input))).toEqual({
        type: 'CloudflareRejected',
        final: true,
      });
      expect(t.named()).toHaveLength(1);
    });

    it('fails a token not in the inventory for good, without calling Cloudflare', async () => {
      const t = setup();
      const before = sim.calls.total();
      const unknown = attempt(1).run(t.service.deleteServiceToken, {
        accountId,
        tokenName: 'nobody',
        tokenId: t.old.id,
      });
      expect(await failureOf(unknown)).toEqual({ type: 'UnknownServiceToken', final: true });
      expect(sim.calls.total()).toBe(before);
    });

    it('heartbeats while Cloudflare is slow to answer', async () => {
      const t = setup();
      // Longer than the heartbeat interval (2 s); both timers run in this process, so the order is fixed.
      sim.faults.add({ match: { operationId: OPS.delete }, latencyMs: 2_500, times: 1 });
      const env = new MockActivityEnvironment({}, { ...quiet, interceptors: [heartbeatWhileRunning] });
      let heartbeats = 0;
      env.on('heartbeat', () => heartbeats++);

      await env.run(t.service.deleteServiceToken, { ...t.key, tokenId: t.old.id });

      expect(heartbeats).toBeGreaterThanOrEqual(1);
      expect(t.named()).toEqual([]);
    });
  });
});
