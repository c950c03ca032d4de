import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { LocalActivities, CloudflareActivities } from '../../src/activities';
import type { TokenHealthReport } from '../../src/health/report';
import type { TokenObservation, TokenPolicy } from '../../src/health/types';
import { checkTokenHealth } from '../../src/workflows/check-token-health';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { LANES } from '../../src/cloudflare/budget/lanes';
import { groupNamed, HOME, TEST_GROUPS } from './catalogue';

type Stubs = Partial<Record<keyof LocalActivities | keyof CloudflareActivities, (...args: never[]) => unknown>>;

const broken = (message: string) => async () => {
  throw ApplicationFailure.create({ message, type: 'CloudflareUnavailable', nonRetryable: true });
};

const observation = (policies: TokenPolicy[]): TokenObservation => ({
  fingerprint: 'sha256:1111111111111111',
  secret: 'present',
  secretSource: 'environment variable X',
  tokenId: 'a'.repeat(32),
  accepted: true,
  verified: null,
  refusal: null,
  snapshot: {
    id: 'a'.repeat(32),
    name: 'acct',
    status: 'active',
    issuedOn: null,
    modifiedOn: null,
    notBefore: null,
    expiresOn: null,
    policies,
    condition: null,
  },
  readVia: 'self',
  readProblem: null,
  kind: 'account',
});

/**
 * The workflow alone, against the shared dev server, with stub activities: what a run does when
 * Cloudflare or an update fails after Temporal's retries. The bundle is built once for the file.
 */
describe('checkTokenHealth with stub activities', () => {
  let bundle: WorkflowBundleWithSourceMap;
  let connection: NativeConnection;
  let clientConnection: Connection;
  let client: Client;
  const recorded: TokenHealthReport[] = [];
  const notified: Array<{ channel: string; reasons: string[] }> = [];

  beforeAll(async () => {
    const address = process.env.TEST_TEMPORAL_ADDRESS;
    if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run through jest');
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    });
    connection = await NativeConnection.connect({ address });
    clientConnection = await Connection.connect({ address });
    client = new Client({ connection: clientConnection });
  });
  afterAll(async () => {
    await clientConnection?.close();
    await connection?.close();
  });

  /** Runs one workflow on its own task queues with these stubs. */
  async function runWith(
    stubs: Stubs,
    input: Parameters<typeof checkTokenHealth>[0],
    keepRunningUntil: () => boolean = () => true,
  ): Promise<TokenHealthReport> {
    const taskQueue = `tw-health-wf-${randomBytes(4).toString('hex')}`;
    const local: Stubs = {
      recordAudit: async () => undefined,
      prepareTokenHealthRun: async () => ({
        tokens: [
          {
            accountId: HOME,
            name: 'acct',
            kind: 'account',
            configuredId: null,
            requiredPermissions: ['Workers Scripts: Edit', 'D1: Edit'],
          },
        ],
        wardenNeeds: [{ permission: 'Account API Tokens Write', purpose: 'heal', accountId: HOME }],
        identities: [],
        baseURL: 'https://api.cloudflare.com/client/v4',
        firstAccountId: HOME,
        notifyChannels: ['webhook'],
      }),
      rememberTokenIdentities: async () => undefined,
      recordTokenHealth: async (report: TokenHealthReport) => void recorded.push(report),
      notifyTokenHealth: async (sent: { channel: string; reasons: string[] }) =>
        void notified.push({ channel: sent.channel, reasons: sent.reasons }),
      ...stubs,
    };
    const [main, ...lanes] = await Promise.all([
      Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: local }),
      ...LANES.map((lane) =>
        Worker.create({ connection, taskQueue: cloudflareTaskQueue(taskQueue, lane), activities: stubs }),
      ),
    ]);
    if (!main) throw new Error('workers');
    // The notification runs in a child that outlives the run: keep the workers up until it is seen.
    const run = async () => {
      const report = await client.workflow.execute(checkTokenHealth, {
        taskQueue,
        workflowId: `health-wf-${randomBytes(6).toString('hex')}`,
        args: [input],
      });
      const deadline = Date.now() + 10_000;
      while (!keepRunningUntil() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return report;
    };
    return main.runUntil(lanes.reduce((running, lane) => lane.runUntil(running), run()));
  }

  it('still records one unhealthy run, and notifies, when Cloudflare cannot be reached', async () => {
    recorded.length = 0;
    notified.length = 0;
    const report = await runWith(
      {
        listPermissionGroups: broken('connection to Cloudflare failed'),
        observeApiToken: broken('connection to Cloudflare failed'),
      },
      { trigger: { actor: 'test' } },
      () => notified.length > 0,
    );
    expect(report.overallHealth).toBe('unhealthy');
    expect(report.tokens[0]).toMatchObject({
      isValid: false,
      problem: expect.stringContaining('could not be checked'),
    });
    expect(report.catalogueProblem).toContain('connection to Cloudflare failed');
    expect(report.recommendations[0]).toMatch(/^❌ Account token could not be checked/);
    expect(recorded).toHaveLength(1);
    expect(notified).toEqual([{ channel: 'webhook', reasons: ['unhealthy', 'self-audit'] }]);
  });

  it('reports a heal whose update keeps failing, without a read-back', async () => {
    const readApiToken = jest.fn();
    const report = await runWith(
      {
        listPermissionGroups: async () => ({ groups: [...TEST_GROUPS], problem: null }),
        // the token may edit itself: it holds Account API Tokens Write on its account
        observeApiToken: async () =>
          observation([
            {
              effect: 'allow',
              permission_groups: [{ id: groupNamed('Account API Tokens Write').id }],
              resources: { [`com.cloudflare.api.account.${HOME}`]: '*' },
            },
          ]),
        healApiToken: broken('update acct: connection to Cloudflare failed'),
        readApiToken,
      },
      { trigger: { actor: 'test' }, autoHeal: true },
    );
    expect(report.heal?.[0]).toMatchObject({ success: false, updated: false, permissionsAdded: [] });
    expect(report.heal?.[0]?.message).toMatch(
      /^The update failed: .*connection to Cloudflare failed\. Add Workers Scripts: Edit, D1: Edit in the Cloudflare dashboard/,
    );
    expect(report.overallHealth).toBe('degraded');
    expect(readApiToken).not.toHaveBeenCalled();
  });

  it('dry run plans without calling the update', async () => {
    const healApiToken = jest.fn();
    const report = await runWith(
      {
        listPermissionGroups: async () => ({ groups: [...TEST_GROUPS], problem: null }),
        observeApiToken: async () =>
          observation([
            {
              effect: 'allow',
              permission_groups: [{ id: groupNamed('Workers Scripts Write').id }],
              resources: { [`com.cloudflare.api.account.${HOME}`]: '*' },
            },
          ]),
        healApiToken,
      },
      { trigger: { actor: 'test' }, autoHeal: true, dryRun: true },
    );
    expect(report.heal?.[0]).toMatchObject({
      dryRun: true,
      wouldAdd: ['com.cloudflare.api.account.d1:edit'],
      updated: false,
    });
    expect(healApiToken).not.toHaveBeenCalled();
  });

  describe('one observation per distinct token value', () => {
    const FINGERPRINT = 'sha256:1111111111111111';
    const readsItself = [
      {
        effect: 'allow' as const,
        permission_groups: [{ id: groupNamed('Account API Tokens Write').id }],
        resources: { [`com.cloudflare.api.account.${HOME}`]: '*' },
      },
    ];
    const planFor = (fingerprints: { tokens: Array<string | null>; warden: string | null }) => async () => ({
      tokens: ['acct', 'acct-again'].map((name) => ({
        accountId: HOME,
        name,
        kind: 'account' as const,
        configuredId: null,
        requiredPermissions: ['Account API Tokens: Edit'],
      })),
      wardenNeeds: [{ permission: 'Account API Tokens Write', purpose: 'heal' as const, accountId: HOME }],
      identities: [
        {
          subject: 'token-warden',
          fingerprint: FINGERPRINT,
          tokenId: 'a'.repeat(32),
          kind: 'account' as const,
          selfReadable: true,
        },
      ],
      baseURL: 'https://api.cloudflare.com/client/v4',
      firstAccountId: HOME,
      notifyChannels: [],
      fingerprints,
    });

    it("reads a value held by two entries and token-warden's own token once, and lists groups where the warden's kind can", async () => {
      const observeApiToken = jest.fn(async () => observation(readsItself));
      const listPermissionGroups = jest.fn(async () => ({ groups: [...TEST_GROUPS], problem: null }));
      const report = await runWith(
        {
          prepareTokenHealthRun: planFor({ tokens: [FINGERPRINT, FINGERPRINT], warden: FINGERPRINT }),
          observeApiToken,
          listPermissionGroups,
        },
        { trigger: { actor: 'test' } },
      );
      expect(observeApiToken).toHaveBeenCalledTimes(1);
      expect(observeApiToken).toHaveBeenCalledWith(
        expect.objectContaining({ subject: { source: 'inventory', accountId: HOME, name: 'acct' } }),
      );
      expect(listPermissionGroups).toHaveBeenCalledWith({ accountId: HOME, wardenKind: 'account' });
      expect(report.tokens.map((t) => t.state)).toEqual(['healthy', 'healthy']);
      expect(report.selfAudit).toMatchObject({ tokenId: 'a'.repeat(32), isValid: true, missing: [] });
    });

    it("reads token-warden's own token after all when the shared value changed between plan and read", async () => {
      const observeApiToken = jest.fn(async (input: { subject: { source: string } }) =>
        input.subject.source === 'warden'
          ? observation(readsItself)
          : { ...observation(readsItself), fingerprint: 'sha256:2222222222222222' },
      );
      const report = await runWith(
        {
          prepareTokenHealthRun: planFor({ tokens: [FINGERPRINT, null], warden: FINGERPRINT }),
          observeApiToken,
          listPermissionGroups: async () => ({ groups: [...TEST_GROUPS], problem: null }),
        },
        { trigger: { actor: 'test' } },
      );
      expect(observeApiToken.mock.calls.map(([input]) => input.subject.source)).toEqual([
        'inventory',
        'inventory',
        'warden',
      ]);
      expect(report.selfAudit).toMatchObject({ isValid: true });
    });
  });
});
