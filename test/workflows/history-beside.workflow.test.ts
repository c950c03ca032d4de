import { ApplicationFailure } from '@temporalio/common';
import { emergencyRevokeSignal } from '../../src/workflows/rotation/rotate-service-token';
import { finished, flow, inputsOf, recordedSteps, startHarness, type Call, type Harness } from './rotation-harness';

const HOUR = 60 * 60 * 1000;
const REVOKE = { actor: 'api:security', reason: 'pasted in a public channel' };
/** How soon a revoke must reach Cloudflare: what it takes with every write working, and then some. */
const REVOKE_BOUND_MS = 5_000;

const STORED = { stored: 'as-given' as const };

/** Postgres refusing connections, as a history write sees it: retryable, for as long as it lasts. */
class Outage {
  down = false;
  refused = 0;
  /** The rows that made it, in the order they were stored. */
  readonly stored: Array<{ step?: string; outcome?: string; action?: string }> = [];
  fail(): never {
    this.refused += 1;
    throw ApplicationFailure.create({ message: 'connect ECONNREFUSED 127.0.0.1:5432 (stub)', type: 'Error' });
  }
  async write(row: { step?: string; outcome?: string; action?: string }) {
    if (this.down) this.fail();
    this.stored.push(row);
    return STORED;
  }
  steps(): string[] {
    return this.stored.filter((r) => r.step).map((r) => `${r.step}:${r.outcome}`);
  }
}

async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const firstCall = (calls: Call[], name: Call['name']) => calls.find((c) => c.name === name);

/**
 * DESIGN §5.6: bookkeeping never sits on a revoke's critical path. History and audit writes run
 * beside the work and catch up; a write Postgres refuses for its data is not retried forever.
 */
describe('rotateServiceToken history writes, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent(
    'retires within seconds when a revoke is signalled into a run whose history writes are failing, and writes the rows once they work again',
    async () => {
      const outage = new Outage();
      let signalledAt = 0;
      let retiredAt = 0;
      const run = await harness.run({
        plan: { propagationWaitMs: HOUR, overlapMs: 6 * HOUR },
        stubs: {
          // Postgres goes away once the stores have been verified: every later history write fails.
          verifyStore: async (i) => {
            outage.down = true;
            return i.receipt.expected;
          },
          recordRotationStep: async (row) => outage.write(row),
          recordAudit: async (row) => outage.write(row),
          finishRotationRecord: async (row) => outage.write({ outcome: row.status }),
          setPreviousSecretExpiry: async () => {
            retiredAt ||= Date.now();
          },
        },
        during: async (handle) => {
          await until('a history write refused', () => outage.refused > 0);
          signalledAt = Date.now();
          await handle.signal(emergencyRevokeSignal, REVOKE);
          await until('the retire', () => retiredAt > 0, 30_000).catch(() => undefined);
          outage.down = false;
        },
      });

      expect(retiredAt).toBeGreaterThan(0);
      expect(retiredAt - signalledAt).toBeLessThan(REVOKE_BOUND_MS);
      expect(run.result).toMatchObject({ status: 'completed', emergency: true });
      // Every row still lands, in order, once the writes work again.
      expect(outage.steps()).toEqual([
        'resolve:ok',
        'issue:ok',
        'propagate:ok',
        'verify:ok',
        'wait:ok',
        'retire:ok',
        'confirm revoked:ok',
        'finish:ok',
      ]);
      expect(outage.stored.at(-1)).toEqual({ outcome: 'completed' });
      expect(inputsOf(run, 'finishRotationRecord').at(-1)).toMatchObject({
        status: 'completed',
        outcome: { revokedBy: REVOKE.actor },
      });
      // The signal is audited when the run receives it, with its actor and reason.
      expect(inputsOf(run, 'recordAudit')).toContainEqual(
        expect.objectContaining({
          actor: REVOKE.actor,
          action: 'revoke.signal',
          subject: 'ci-api',
          details: expect.objectContaining({ reason: REVOKE.reason }),
        }),
      );
    },
  );

  it.concurrent(
    'kills the compromised secret first when a revoke reaches a run that is still waiting for Postgres to plan',
    async () => {
      const outage = new Outage();
      outage.down = true;
      let signalledAt = 0;
      const run = await harness.run({
        stubs: {
          planRotation: async () => {
            if (outage.down) outage.fail();
            return {
              strategy: 'rotate-secret',
              overlapMs: 400,
              propagationWaitMs: HOUR,
              duration: '8760h',
              hasProbe: true,
              zoneScoped: false,
              targets: [{ index: 0, kind: 'file', label: 'file:/etc/app/cf.env', viaCloudflare: false }],
              currentRef: 'ref-current-0000',
              currentFingerprint: 'sha256:1111111111111111',
              notifyChannels: [],
            };
          },
          recordAudit: async (row) => outage.write(row),
        },
        during: async (handle, scenario) => {
          await until('a failed plan', () => scenario.calls.some((c) => c.name === 'planRotation'));
          signalledAt = Date.now();
          await handle.signal(emergencyRevokeSignal, REVOKE);
          await until(
            'the kill',
            () => scenario.calls.some((c) => c.name === 'revokeServiceTokenSecret'),
            30_000,
          ).catch(() => undefined);
          outage.down = false;
        },
      });

      const kill = run.calls.findIndex((c) => c.name === 'revokeServiceTokenSecret');
      expect(kill).toBeGreaterThanOrEqual(0);
      expect(run.calls[kill]).toMatchObject({ queue: 'cloudflare', lane: 'emergency' });
      expect(run.result).toMatchObject({ status: 'completed', emergency: true, strategy: 'rotate-secret' });
      // The resolve read went beside the plan (rotation-fewer-round-trips); the kill is the first mutation.
      expect(flow(run)).toEqual([
        'resolveServiceToken',
        'revokeServiceTokenSecret',
        'propagateToStore',
        'verifyStore',
        'probeCredential:rejected',
        'promoteSecret',
      ]);
      expect(recordedSteps(run).slice(0, 2)).toEqual(['resolve:ok', 'issue:ok']);
      expect(outage.stored.map((a) => a.action).sort()).toEqual(['revoke.signal', 'rotate.manual']);
      expect(signalledAt).toBeGreaterThan(0);
    },
  );

  it.concurrent(
    'proceeds and alerts when Postgres refuses the audit row for its data, and a later revoke of the token works',
    async () => {
      const rejected = () => {
        throw ApplicationFailure.create({
          message: 'audit row rejected by Postgres (22021: invalid byte sequence for encoding "UTF8": 0x00)',
          type: 'HistoryDataRejected',
          nonRetryable: true,
        });
      };
      const run = await harness.run({
        plan: { notifyChannels: ['webhook'] },
        stubs: { recordAudit: async () => rejected() },
      });

      expect(run.result).toMatchObject({ status: 'completed' });
      expect(run.calls.filter((c) => c.name === 'recordAudit')).toHaveLength(1);
      const alerts = inputsOf(run, 'notifyRotation').map((a) => a.alert);
      expect(alerts).toContainEqual(expect.objectContaining({ severity: 'critical', event: 'history-write-rejected' }));
      expect(finished(run).outcome).toMatchObject({
        historyProblems: [expect.objectContaining({ write: 'audit', type: 'HistoryDataRejected' })],
      });

      const revoke = await harness.run({ mode: 'emergency', stubs: { recordAudit: async () => rejected() } });
      expect(revoke.result).toMatchObject({ status: 'completed', emergency: true });
      expect(firstCall(revoke.calls, 'revokeServiceTokenSecret')).toBeDefined();
    },
  );

  it.concurrent('says so when an audit row could only be stored with its unstorable characters replaced', async () => {
    const run = await harness.run({
      plan: { notifyChannels: ['slack'] },
      stubs: { recordAudit: async () => ({ stored: 'sanitized' as const, problem: '22021: invalid byte sequence' }) },
    });

    expect(run.result?.status).toBe('completed');
    expect(inputsOf(run, 'notifyRotation').map((a) => a.alert)).toContainEqual(
      expect.objectContaining({ severity: 'warning', event: 'history-write-sanitized' }),
    );
  });
});
