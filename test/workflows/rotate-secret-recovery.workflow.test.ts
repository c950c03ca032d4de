import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { RotationPlan } from '../../src/activities/rotation-records';
import type { WriteReceipt } from '../../src/stores/store-types';
import { progressQuery } from '../../src/workflows/rotation/rotate-service-token';
import {
  at,
  CURRENT_REF,
  finished,
  inputsOf,
  NEW_FINGERPRINT,
  NEW_TOKEN_ID,
  OLD_TOKEN,
  recordedSteps,
  startHarness,
  TARGETS,
  type Harness,
  type Run,
  type Stubs,
} from './rotation-harness';

const DAY = 24 * 60 * 60 * 1000;

const receipt = (targetIndex: number, fingerprint = NEW_FINGERPRINT): WriteReceipt => ({
  store: TARGETS[targetIndex]!.label,
  fingerprint,
  changed: true,
  expected: { evidence: 'fingerprint', fingerprint },
});
const storeDown = () =>
  ApplicationFailure.create({
    message: 'workers-secret:api: write failed (HTTP 403)',
    type: 'StoreWriteFailed',
    nonRetryable: true,
  });

async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The steps of a run as the progress query last showed them, with every round's step. */
const propagateRounds = (run: Pick<Run, 'calls'>) =>
  inputsOf(run, 'recordRotationStep').filter((s) => s.step === 'propagate').length;

/**
 * A small model of what the stubs act on, shared by consecutive runs: the old token's current and
 * previous secret in Cloudflare, each store's credential, the credential on record as current,
 * and every write that put a time-limited secret over a permanent one.
 */
class World {
  current = CURRENT_REF;
  previous: { ref: string; expiresAt: number } | null = null;
  stores: string[] = TARGETS.map(() => CURRENT_REF);
  onRecord = CURRENT_REF;
  brokenStore: number | null = 1;
  replacements: Array<{ tokenId: string; ref: string; deleted: boolean }> = [];
  violations: string[] = [];

  /** A previous secret that is still alive: it dies when its expiry passes. */
  timeLimited(ref: string): boolean {
    return this.previous !== null && this.previous.ref === ref && this.previous.expiresAt > Date.now();
  }

  put(index: number, ref: string, how: string): void {
    if (this.timeLimited(ref) && !this.timeLimited(this.stores[index]!))
      this.violations.push(
        `${how}: store ${index} held ${this.stores[index]}, a permanent credential, and was given ${ref}, valid only until the previous secret expires`,
      );
    this.stores[index] = ref;
  }

  plan(base: RotationPlan): RotationPlan {
    return { ...base, currentRef: this.onRecord };
  }

  stubs(base: RotationPlan): Stubs {
    return {
      planRotation: async () => this.plan(base),
      resolveServiceToken: async () => ({
        ...OLD_TOKEN,
        previousSecretExpiresAt:
          this.previous && this.previous.expiresAt > Date.now()
            ? new Date(this.previous.expiresAt).toISOString()
            : null,
        strays: this.replacements.filter((r) => !r.deleted).map((r) => r.tokenId),
      }),
      issueRotatedSecret: async (i) => {
        this.previous = { ref: this.current, expiresAt: at(i.previousSecretExpiresAt) };
        this.current = i.ref;
        return {
          ref: i.ref,
          fingerprint: NEW_FINGERPRINT,
          tokenId: i.tokenId,
          clientId: OLD_TOKEN.clientId,
          secretVersion: i.expectedVersion + 1,
        };
      },
      setPreviousSecretExpiry: async (i) => {
        if (this.previous) this.previous.expiresAt = at(i.expiresAt);
      },
      createReplacementToken: async (i) => {
        const tokenId = `${NEW_TOKEN_ID}-${this.replacements.length + 1}`;
        this.replacements.push({ tokenId, ref: i.ref, deleted: false });
        return {
          ref: i.ref,
          fingerprint: 'sha256:3333333333333333',
          tokenId,
          clientId: `${tokenId}.access`,
          secretVersion: 1,
        };
      },
      deleteServiceToken: async (i) => {
        const replacement = this.replacements.find((r) => r.tokenId === i.tokenId);
        if (replacement) replacement.deleted = true;
      },
      propagateToStore: async (i) => {
        if (i.targetIndex === this.brokenStore) throw storeDown();
        this.put(i.targetIndex, i.ref, 'propagate');
        return receipt(i.targetIndex);
      },
      verifyStore: async (i) => i.receipt.expected,
      restoreStore: async (i) => {
        if (i.targetIndex === this.brokenStore) throw storeDown();
        this.put(i.targetIndex, i.ref, 'restore');
      },
      promoteSecret: async (i) => {
        this.onRecord = i.ref;
      },
    };
  }
}

const basePlan = (overrides: Partial<RotationPlan> = {}): RotationPlan => ({
  strategy: 'rotate-secret',
  overlapMs: 400,
  propagationWaitMs: 200,
  duration: '8760h',
  hasProbe: true,
  zoneScoped: false,
  targets: TARGETS,
  currentRef: CURRENT_REF,
  currentFingerprint: 'sha256:1111111111111111',
  notifyChannels: ['slack'],
  ...overrides,
});

/**
 * rotate-secret cannot be undone once Cloudflare issued the new secret: a propagation failure
 * keeps the run alive until every store holds it, and nothing reports "compensated" meanwhile.
 */
describe('rotateServiceToken, rotate-secret propagation failures, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent(
    'keeps the run alive, alerts critical at once and retries only the store that misses the new secret until it reads it back',
    async () => {
      let failures = 0;
      const run = await harness.run({
        plan: { overlapMs: 400, notifyChannels: ['slack'] },
        stubs: {
          propagateToStore: async (i) => {
            if (i.targetIndex === 1 && ++failures <= 5) throw storeDown();
            return receipt(i.targetIndex);
          },
        },
      });

      expect(run.result).toMatchObject({ status: 'completed', strategy: 'rotate-secret' });
      // Five failed writes of the Workers secret, then the one that worked; the file store was written once.
      const writes = inputsOf(run, 'propagateToStore');
      expect(writes.filter((w) => w.targetIndex === 0)).toHaveLength(1);
      expect(writes.filter((w) => w.targetIndex === 1)).toHaveLength(6);
      expect(inputsOf(run, 'verifyStore').filter((v) => v.targetIndex === 1)).toHaveLength(1);
      // The previous secret was kept valid for the recovery window as soon as propagation failed.
      const [extend, retire] = inputsOf(run, 'setPreviousSecretExpiry');
      expect(at(extend!.expiresAt)).toBeGreaterThanOrEqual(run.startedAt + DAY - 1000);
      expect(at(inputsOf(run, 'setPreviousSecretExpiry').at(-1)!.expiresAt)).toBeLessThanOrEqual(run.finishedAt + 1000);
      expect(retire).toBeDefined();
      // One critical alert, sent before the second attempt at the broken store.
      const alerts = inputsOf(run, 'notifyRotation').map((a) => a.alert);
      expect(alerts.filter((a) => a.event === 'propagation-failing')).toEqual([
        expect.objectContaining({ severity: 'critical' }),
      ]);
      const alertAt = run.calls.findIndex((c) => c.name === 'notifyRotation');
      const secondTry = run.calls
        .map((c, i) => [c, i] as const)
        .filter(
          ([c]) => c.name === 'propagateToStore' && (c.input as { targetIndex: number }).targetIndex === 1,
        )[1]![1];
      expect(alertAt).toBeLessThan(secondTry);
      expect(recordedSteps(run)).not.toContain('compensate:compensated');
      expect(recordedSteps(run).slice(-3)).toEqual(['wait:ok', 'retire:ok', 'finish:ok']);
      expect(finished(run).status).toBe('completed');
    },
  );

  it.concurrent(
    'never reports compensated while the stores disagree: an operator cancel leaves both secrets valid and says so',
    async () => {
      const run = await harness.run({
        plan: { overlapMs: 400, notifyChannels: ['slack'] },
        stubs: {
          propagateToStore: async (i) => (i.targetIndex === 1 ? Promise.reject(storeDown()) : receipt(i.targetIndex)),
        },
        during: async (handle, scenario) => {
          await until('three failed rounds', () => propagateRounds(scenario) >= 3);
          await handle.cancel().catch(() => undefined);
        },
      });

      expect(run.failure?.cause).toBeInstanceOf(CancelledFailure);
      const [issue] = inputsOf(run, 'issueRotatedSecret');
      // Both stay valid: the previous secret for a whole recovery window from the cancel, the new
      // one because Cloudflare issued it; the new one is on record as current (a later restore
      // must never hand the stores the previous, time-limited secret).
      const lastExpiry = inputsOf(run, 'setPreviousSecretExpiry').at(-1)!;
      expect(at(lastExpiry.expiresAt)).toBeGreaterThanOrEqual(run.finishedAt + DAY - 60_000);
      expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref: issue!.ref }]);
      expect(finished(run)).toMatchObject({
        status: 'cancelled',
        outcome: { cancelled: true, bothValid: true, storesWithoutNewSecret: ['workers-secret:api'] },
      });
      expect(recordedSteps(run)).not.toContain('compensate:compensated');
      const alerts = inputsOf(run, 'notifyRotation').map((a) => a.alert);
      expect(alerts.at(-1)).toMatchObject({ severity: 'critical', event: 'rotation-cancelled' });
      expect(alerts.at(-1)!.message).toMatch(/both/);
      expect((await run.handle.query(progressQuery)).phase).toBe('cancelled');
    },
  );

  it.concurrent('a later run never writes a time-limited secret over a store that holds a permanent one', async () => {
    const world = new World();
    const plan = basePlan();
    // Run 1: the Workers secret refuses the new secret. However the run ends (it gave up, or an
    // operator cancelled it), Cloudflare's current secret is the new one and the previous one
    // lives only until its extended expiry.
    const first = await harness.run({
      plan,
      stubs: world.stubs(plan),
      during: async (handle, scenario) => {
        await until(
          'three failed rounds, or the end',
          () => propagateRounds(scenario) >= 3 || inputsOf(scenario, 'finishRotationRecord').length > 0,
        );
        await handle.cancel().catch(() => undefined);
      },
    });
    expect(world.stores).toEqual([world.current, CURRENT_REF]);
    expect(world.timeLimited(CURRENT_REF)).toBe(true);

    // Run 2, inside the recovery window: blue/green, and its propagation fails too.
    const second = await harness.run({ plan, stubs: world.stubs(plan) });

    expect(world.violations).toEqual([]);
    // The file store, which held the permanent secret, still holds a credential Cloudflare keeps.
    expect(world.timeLimited(world.stores[0]!)).toBe(false);
    expect(inputsOf(first, 'finishRotationRecord').map((f) => f.status)).not.toContain('compensated');
    expect(second.failure).toBeDefined();
    expect(inputsOf(second, 'notifyRotation').map((a) => a.alert.severity)).toContain('critical');
  });
});
