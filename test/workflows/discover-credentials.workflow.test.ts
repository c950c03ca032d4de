import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { CloudflareActivities, LocalActivities } from '../../src/activities';
import type { DiscoveryListing, DiscoverySummary, FinishDiscoveryInput } from '../../src/activities/discovery';
import type { DiscoveryScope } from '../../src/discovery/credential-schemas';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { startStubWorkers, type StubWorkers } from './stub-workers';

type All = LocalActivities & CloudflareActivities;

interface Call {
  name: string;
  taskQueue: string;
  input: unknown;
}

/**
 * `discoverCredentials` with stub activities: every account and the user's tokens listed once,
 * in the scheduled lane, and the run finished (rows not seen marked gone) only once every
 * listing succeeded.
 */
describe('discoverCredentials, with stub activities', () => {
  const calls = new Map<string, Call[]>();
  const failingAccounts = new Set<string>();
  let stub: StubWorkers | undefined;
  let client: Client;
  let taskQueue: string;

  const scope = (accountId: string, kind: DiscoveryScope['kind']): DiscoveryScope => ({
    accountId,
    kind,
    zoneId: null,
  });
  const listing = (covered: DiscoveryScope[], cloudflareCalls: number, skipped: string[] = []): DiscoveryListing => ({
    covered,
    skipped,
    credentials: 2,
    unmanaged: 1,
    withoutExpiry: 1,
    cloudflareCalls,
  });

  beforeAll(async () => {
    const record = (input: unknown) => {
      const info = Context.current().info;
      const workflowId = info.workflowExecution?.workflowId ?? '';
      calls.set(workflowId, [
        ...(calls.get(workflowId) ?? []),
        { name: info.activityType, taskQueue: info.taskQueue, input },
      ]);
    };
    const accountsOf = (workflowId: string) => [`${workflowId}-a`, `${workflowId}-b`];
    const activities: Partial<Record<keyof All, (input: never) => Promise<unknown>>> = {
      recordAudit: async (input: unknown) => record(input),
      discoveryAccounts: async () => {
        record(undefined);
        return accountsOf(Context.current().info.workflowExecution?.workflowId ?? '');
      },
      discoverAccountCredentials: async (input: { runId: string; accountId: string }) => {
        record(input);
        if (failingAccounts.has(input.accountId))
          throw ApplicationFailure.create({ type: 'CloudflareRejected', message: 'HTTP 403', nonRetryable: true });
        return listing([scope(input.accountId, 'service-token')], input.accountId.endsWith('-a') ? 3 : 2);
      },
      discoverUserApiTokens: async (input: { runId: string }) => {
        record(input);
        return listing([], 1, ['user API tokens: HTTP 403 Unauthorized']);
      },
      finishDiscovery: async (input: FinishDiscoveryInput): Promise<DiscoverySummary> => {
        record(input);
        return {
          runId: input.runId,
          accounts: input.accountIds.length,
          credentials: 6,
          unmanaged: 3,
          withoutExpiry: 3,
          gone: 0,
          cloudflareCalls: input.cloudflareCalls,
          skipped: input.skipped,
        };
      },
    };
    stub = await startStubWorkers('tw-discover-wf', activities);
    ({ client, taskQueue } = stub);
  });
  afterAll(async () => {
    await stub?.close();
  });

  it('lists each account and the user once in the scheduled lane, then records the run with the requests spent', async () => {
    const workflowId = `discover-${randomBytes(4).toString('hex')}`;
    const handle = await client.workflow.start('discoverCredentials', {
      taskQueue,
      workflowId,
      args: [{ trigger: { actor: 'schedule:token-warden/discover-credentials' } }],
    });
    const summary: DiscoverySummary = await handle.result();
    const made = calls.get(workflowId) ?? [];
    expect(made[0]).toMatchObject({
      name: 'recordAudit',
      input: { actor: 'schedule:token-warden/discover-credentials' },
    });
    const listings = made.filter((c) => c.name === 'discoverAccountCredentials' || c.name === 'discoverUserApiTokens');
    expect(listings.map((c) => [c.name, c.taskQueue]).sort()).toEqual(
      [
        ['discoverAccountCredentials', cloudflareTaskQueue(taskQueue, 'scheduled')],
        ['discoverAccountCredentials', cloudflareTaskQueue(taskQueue, 'scheduled')],
        ['discoverUserApiTokens', cloudflareTaskQueue(taskQueue, 'scheduled')],
      ].sort(),
    );
    const finish = made.filter((c) => c.name === 'finishDiscovery');
    expect(finish).toHaveLength(1);
    expect(finish[0]!.input).toMatchObject({
      runId: handle.firstExecutionRunId,
      workflowId,
      triggeredBy: 'schedule:token-warden/discover-credentials',
      accountIds: [`${workflowId}-a`, `${workflowId}-b`],
      // Only the lists read in full mark rows gone; the one token-warden may not read is reported.
      covered: [scope(`${workflowId}-a`, 'service-token'), scope(`${workflowId}-b`, 'service-token')],
      skipped: ['user API tokens: HTTP 403 Unauthorized'],
      cloudflareCalls: 6,
    });
    expect(summary).toMatchObject({ accounts: 2, cloudflareCalls: 6 });
  });

  it('marks nothing gone when a listing fails: a partial listing would make present tokens look deleted', async () => {
    const workflowId = `discover-${randomBytes(4).toString('hex')}`;
    failingAccounts.add(`${workflowId}-b`);
    const handle = await client.workflow.start('discoverCredentials', {
      taskQueue,
      workflowId,
      args: [{ trigger: { actor: 'api:ops' } }],
    });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((calls.get(workflowId) ?? []).map((c) => c.name)).not.toContain('finishDiscovery');
  });
});
