import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { CloudflareActivities, LocalActivities } from '../../src/activities';
import type { RotationPlan } from '../../src/activities/rotation-records';
import type { RenewalDue } from '../../src/activities/service-token-inventory';
import { rotationWorkflowId } from '../../src/inventory';
import { emergencyRevokeSignal, rotateServiceToken } from '../../src/workflows/rotation/rotate-service-token';
import type { SweepResult } from '../../src/workflows/sweep-expiry';
import { emergencyTaskQueue } from '../../src/workflows/triggers';
import { OLD_TOKEN, TARGETS } from './rotation-harness';
import { startStubWorkers, type StubWorkers } from './stub-workers';

type All = LocalActivities & CloudflareActivities;

interface Call {
  name: string;
  workflowId: string;
  input: unknown;
}

/** One account per test: every activity finds its test by the account in its workflow id or input. */
interface Scenario {
  accountId: string;
  due: RenewalDue[];
  refresh: (
    input: Parameters<All['refreshServiceToken']>[0],
  ) => Promise<Awaited<ReturnType<All['refreshServiceToken']>>>;
  calls: Call[];
}

const plan = (overrides: Partial<RotationPlan> = {}): RotationPlan => ({
  strategy: 'rotate-secret',
  overlapMs: 400,
  propagationWaitMs: 200,
  duration: '8760h',
  hasProbe: false,
  zoneScoped: false,
  targets: [TARGETS[0]!],
  currentRef: 'ref-current-0000',
  currentFingerprint: 'sha256:1111111111111111',
  notifyChannels: [],
  ...overrides,
});

async function until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * `sweepExpiry` with stub activities: one token's refresh failing never holds up the others, and a
 * refresh runs under the token's own workflow id, so it never races a rotation of that token.
 */
describe('sweepExpiry, with stub activities', () => {
  const scenarios = new Map<string, Scenario>();
  let stub: StubWorkers | undefined;
  let client: Client;
  let taskQueue: string;

  beforeAll(async () => {
    const scenarioOf = (input: unknown): Scenario => {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
      const account = (input as { accountId?: string } | undefined)?.accountId ?? workflowId.split('/')[1] ?? '';
      const scenario = scenarios.get(account) ?? scenarios.get(workflowId.split('/').at(-1) ?? '');
      if (!scenario) throw ApplicationFailure.create({ message: `no scenario for ${workflowId}`, nonRetryable: true });
      scenario.calls.push({ name: Context.current().info.activityType, workflowId, input });
      return scenario;
    };
    const none = async (input: unknown) => void scenarioOf(input);
    const activities: Partial<Record<keyof All, (input: never) => Promise<unknown>>> = {
      recordAudit: none,
      recordRotationStart: none,
      recordRotationStep: none,
      finishRotationRecord: none,
      recordRotationRows: async (rows: unknown[]) => {
        scenarioOf(undefined);
        return rows.map(() => ({ stored: 'as-given' }));
      },
      promoteSecret: none,
      discardSecret: none,
      notifyRotation: async () => ({ status: 200 }),
      readCloudflareBudgetLoad: async () => null,
      findServiceTokensToRenew: async () => scenarioOf(undefined).due,
      // No API token with rotate: in these scenarios (test/integration/api-token-renewal.test.ts renews one).
      findApiTokensToRenew: async () => [],
      refreshServiceToken: async (input: Parameters<All['refreshServiceToken']>[0]) => scenarioOf(input).refresh(input),
      planRotation: async (input: { accountId: string }) => (
        scenarioOf(input),
        plan({ propagationWaitMs: 60 * 60 * 1000 })
      ),
      resolveServiceToken: async (input: { accountId: string }) => (scenarioOf(input), OLD_TOKEN),
      planAndResolveServiceToken: async (input: { accountId: string }) => (
        scenarioOf(input),
        { plan: plan({ propagationWaitMs: 60 * 60 * 1000 }), resolved: OLD_TOKEN }
      ),
      issueRotatedSecret: async (i: Parameters<All['issueRotatedSecret']>[0]) => (
        scenarioOf(i),
        {
          ref: i.ref,
          fingerprint: 'sha256:2222222222222222',
          tokenId: i.tokenId,
          clientId: OLD_TOKEN.clientId,
          secretVersion: i.expectedVersion + 1,
        }
      ),
      revokeServiceTokenSecret: async (i: Parameters<All['revokeServiceTokenSecret']>[0]) => (
        scenarioOf(i),
        {
          resolved: OLD_TOKEN,
          issued: {
            ref: i.ref,
            fingerprint: 'sha256:2222222222222222',
            tokenId: OLD_TOKEN.tokenId,
            clientId: OLD_TOKEN.clientId,
            secretVersion: OLD_TOKEN.secretVersion + 1,
          },
        }
      ),
      setPreviousSecretExpiry: none,
      propagateToStore: async (i: { accountId: string }) => (
        scenarioOf(i),
        {
          store: TARGETS[0]!.label,
          fingerprint: 'sha256:2222222222222222',
          changed: true,
          expected: { evidence: 'fingerprint' as const, fingerprint: 'sha256:2222222222222222' },
        }
      ),
      verifyStore: async (i: Parameters<All['verifyStore']>[0]) => (scenarioOf(i), i.receipt.expected),
      probeCredential: async (i: { accountId: string }) => (scenarioOf(i), { status: 403 }),
    };
    stub = await startStubWorkers('tw-sweep-wf', activities);
    ({ client, taskQueue } = stub);
  });
  afterAll(async () => {
    await stub?.close();
  });

  function scenario(due: Array<Pick<RenewalDue, 'tokenName' | 'action'>>, refresh: Scenario['refresh']): Scenario {
    const accountId = randomBytes(16).toString('hex');
    const s: Scenario = {
      accountId,
      due: due.map((d, i) => ({
        accountId,
        tokenId: `tok-${i}`,
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        daysLeft: 1,
        ...d,
      })),
      refresh,
      calls: [],
    };
    scenarios.set(accountId, s);
    return s;
  }

  const sweep = (s: Scenario): Promise<WorkflowHandle> =>
    client.workflow.start('sweepExpiry', {
      taskQueue,
      workflowId: `test/sweep/${s.accountId}`,
      args: [{ trigger: { actor: 'schedule:test-sweep' } }],
      workflowExecutionTimeout: '45s',
    });

  const refreshed = (s: Scenario, expiresAt: string) => async (input: { tokenName: string; tokenId: string }) => ({
    ...OLD_TOKEN,
    tokenId: input.tokenId,
    expiresAt,
  });

  it('refreshes every token due even when one of them fails for good, and says which', async () => {
    const later = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const s = scenario(
      [
        { tokenName: 'a', action: 'refresh' },
        { tokenName: 'b', action: 'refresh' },
        { tokenName: 'c', action: 'refresh' },
      ],
      async (input) => {
        if (input.tokenName === 'b')
          throw ApplicationFailure.create({
            message: 'refresh service token b: HTTP 403 Forbidden',
            type: 'CloudflareRejected',
            nonRetryable: true,
          });
        return refreshed(s, later)(input);
      },
    );
    const result = (await (await sweep(s)).result()) as SweepResult & { refreshFailed?: Array<{ tokenName: string }> };

    expect(
      s.calls
        .filter((c) => c.name === 'refreshServiceToken')
        .map((c) => (c.input as { tokenName: string }).tokenName)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(result.refreshed.map((r) => r.tokenName).sort()).toEqual(['a', 'c']);
    expect(result.refreshFailed).toEqual([expect.objectContaining({ tokenName: 'b', accountId: s.accountId })]);
  });

  it('refreshes under the token\u2019s own workflow id, and leaves a token that is rotating to its rotation', async () => {
    const later = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const s = scenario(
      [
        { tokenName: 'busy', action: 'refresh' },
        { tokenName: 'idle', action: 'refresh' },
      ],
      async (input) => refreshed(s, later)(input),
    );
    const rotation = await client.workflow.start(rotateServiceToken, {
      taskQueue,
      workflowId: rotationWorkflowId(s.accountId, 'busy'),
      args: [{ accountId: s.accountId, tokenName: 'busy', mode: 'manual', trigger: { actor: 'api:test' } }],
      workflowExecutionTimeout: '45s',
    });
    try {
      await until('the rotation waiting', () => s.calls.some((c) => c.name === 'verifyStore'));
      const result = (await (await sweep(s)).result()) as SweepResult & {
        refreshSkipped?: Array<{ tokenName: string }>;
      };

      const refreshes = s.calls.filter((c) => c.name === 'refreshServiceToken');
      expect(refreshes.map((c) => [(c.input as { tokenName: string }).tokenName, c.workflowId])).toEqual([
        ['idle', rotationWorkflowId(s.accountId, 'idle')],
      ]);
      expect(result.refreshed.map((r) => r.tokenName)).toEqual(['idle']);
      expect(result.refreshSkipped).toEqual([expect.objectContaining({ tokenName: 'busy' })]);
    } finally {
      await rotation.terminate('test over').catch(() => undefined);
    }
  });

  it('turns a refresh into an emergency rotation when a revoke arrives under the same workflow id', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const s = scenario([{ tokenName: 'leaky', action: 'refresh' }], async (input) => {
      await held;
      return refreshed(s, new Date().toISOString())(input);
    });
    const sweeping = await sweep(s);
    try {
      await until('the refresh under way', () => s.calls.some((c) => c.name === 'refreshServiceToken'));
      await client.workflow.signalWithStart(rotateServiceToken, {
        taskQueue,
        workflowId: rotationWorkflowId(s.accountId, 'leaky'),
        args: [
          {
            accountId: s.accountId,
            tokenName: 'leaky',
            mode: 'emergency',
            trigger: { actor: 'api:security', reason: 'leaked' },
          },
        ],
        signal: emergencyRevokeSignal,
        signalArgs: [{ actor: 'api:security', reason: 'leaked' }],
      });
      await until(
        'the compromised secret killed',
        () => s.calls.some((c) => c.name === 'revokeServiceTokenSecret'),
        15_000,
      );
      const handle = client.workflow.getHandle(rotationWorkflowId(s.accountId, 'leaky'));
      expect(await handle.result()).toMatchObject({ status: 'completed', emergency: true });
      // The emergency rotation runs on the emergency queue, away from routine work.
      expect((await handle.describe()).taskQueue).toBe(emergencyTaskQueue(taskQueue));
    } finally {
      release();
      await sweeping.result().catch(() => undefined);
    }
  });
});
