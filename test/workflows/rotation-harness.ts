import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
} from '@temporalio/worker';
import type { CloudflareActivities, LocalActivities } from '../../src/activities';
import type { HistoryWriteResult } from '../../src/activities/history-writes';
import type { PlannedTarget, RotationPlan } from '../../src/activities/rotation-records';
import type { RotationRow, RotationRowResult } from '../../src/activities/rotation-rows';
import type { ServiceTokenState } from '../../src/activities/service-tokens';
import type { WriteReceipt } from '../../src/stores/store-types';
import {
  progressQuery,
  rotateServiceToken,
  type RotationMode,
  type RotationResult,
  type RotationStep,
} from '../../src/workflows/rotation/rotate-service-token';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { LANES, type Lane } from '../../src/cloudflare/budget/lanes';

/**
 * Workflow-tier harness for `rotateServiceToken`: the real workflow code against the shared
 * dev server, every activity a stub. One bundle and one pair of workers (main queue and its
 * `-cloudflare` twin) per test file; each run has its own workflow id, and the stubs route
 * every call to that run's scenario, so tests never see each other's calls.
 */

type All = LocalActivities & CloudflareActivities;
type Input<K extends keyof All> = Parameters<All[K]>[0];
type Output<K extends keyof All> = Awaited<ReturnType<All[K]>>;

export interface Call {
  queue: 'main' | 'cloudflare';
  /** The request-budget lane of a Cloudflare call. */
  lane?: Lane;
  name: Name;
  input: unknown;
  attempt: number;
  /** Run as a local activity, inside the workflow task that called it. */
  local?: true;
}

export interface LogLine {
  level: LogLevel;
  message: string;
  attrs: Record<string, unknown>;
}

export const ACCOUNT = '0123456789abcdef0123456789abcdef';
export const OLD_TOKEN_ID = 'tok-old-1111';
export const NEW_TOKEN_ID = 'tok-new-2222';
export const OLD_CLIENT_ID = 'old-client.access';
export const NEW_CLIENT_ID = 'new-client.access';
export const CURRENT_REF = 'ref-current-0000';
export const OLD_FINGERPRINT = 'sha256:1111111111111111';
export const NEW_FINGERPRINT = 'sha256:2222222222222222';
export const POLICY = { policyId: 'pol-1', name: 'api-access' };

/** One local store (main queue) and one Workers secret (a Cloudflare call, its own queue). */
export const TARGETS: PlannedTarget[] = [
  { index: 0, kind: 'file', label: 'file:/etc/app/cf.env', viaCloudflare: false },
  { index: 1, kind: 'workers-secret', label: 'workers-secret:api', viaCloudflare: true },
];

export const OLD_TOKEN: ServiceTokenState = {
  tokenId: OLD_TOKEN_ID,
  clientId: OLD_CLIENT_ID,
  secretVersion: 3,
  expiresAt: '2030-01-01T00:00:00.000Z',
  createdAt: '2024-01-01T00:00:00.000Z',
  previousSecretExpiresAt: null,
  enabled: true,
};

/** A final failure: Temporal does not retry it, so failure paths run in milliseconds. */
export const fail =
  (type: string, message = `${type} (stub)`) =>
  async (): Promise<never> => {
    throw ApplicationFailure.create({ message, type, nonRetryable: true });
  };

/** Fails the first `times` attempts with a retryable error, then does `then`. */
export function flaky<I, O>(times: number, then: (input: I, attempt: number) => Promise<O>) {
  return async (input: I, attempt: number): Promise<O> => {
    if (attempt <= times)
      throw ApplicationFailure.create({ message: 'Cloudflare answered 503 (stub)', type: 'CloudflareUnavailable' });
    return then(input, attempt);
  };
}

const receipt = (target: PlannedTarget): WriteReceipt => ({
  store: target.label,
  fingerprint: NEW_FINGERPRINT,
  changed: true,
  expected: { evidence: 'fingerprint', fingerprint: NEW_FINGERPRINT },
});

function defaults(plan: RotationPlan): StubSet {
  const none = async () => undefined;
  const stored = async () => ({ stored: 'as-given' as const });
  return {
    planRotation: async () => plan,
    recordAudit: stored,
    recordRotationStart: stored,
    recordRotationStep: stored,
    finishRotationRecord: stored,
    promoteSecret: none,
    discardSecret: none,
    resolveServiceToken: async () => OLD_TOKEN,
    readServiceToken: async () => OLD_TOKEN,
    // Like a Cloudflare that does not report last_seen_at: a replace's wait falls back to its timer.
    readServiceTokenLastSeen: async () => ({ reported: false, lastSeenAt: null }),
    issueRotatedSecret: async (i) => ({
      ref: i.ref,
      fingerprint: NEW_FINGERPRINT,
      tokenId: i.tokenId,
      clientId: OLD_CLIENT_ID,
      secretVersion: i.expectedVersion + 1,
    }),
    // Zone-scoped tokens cannot be rotated in place: the activity says so with null.
    revokeServiceTokenSecret: async (i) =>
      plan.zoneScoped
        ? null
        : {
            resolved: OLD_TOKEN,
            issued: {
              ref: i.ref,
              fingerprint: NEW_FINGERPRINT,
              tokenId: OLD_TOKEN.tokenId,
              clientId: OLD_CLIENT_ID,
              secretVersion: OLD_TOKEN.secretVersion + 1,
            },
          },
    createReplacementToken: async (i) => ({
      ref: i.ref,
      fingerprint: NEW_FINGERPRINT,
      tokenId: NEW_TOKEN_ID,
      clientId: NEW_CLIENT_ID,
      secretVersion: 1,
    }),
    setPreviousSecretExpiry: none,
    deleteServiceToken: none,
    refreshServiceToken: async () => OLD_TOKEN,
    findPoliciesNamingToken: async () => [POLICY],
    bindTokenToPolicies: async () => [POLICY],
    unbindTokenFromPolicies: async () => [POLICY],
    // A store asked to read back in its write confirms what it was just given.
    propagateToStore: async (i) => {
      const written = receipt(TARGETS[i.targetIndex]!);
      return i.readBack ? { ...written, readBack: written.expected } : written;
    },
    verifyStore: async (i) => i.receipt.expected,
    restoreStore: none,
    probeCredential: async (i) => ({ status: i.expect === 'accepted' ? 200 : 403 }),
    notifyRotation: async () => ({ status: 200 }),
  };
}

/** Every activity a rotation may call; each is registered on both task queues. */
const ROTATION_ACTIVITIES = [
  'planRotation',
  'recordAudit',
  'recordRotationStart',
  'recordRotationStep',
  'finishRotationRecord',
  'promoteSecret',
  'discardSecret',
  'resolveServiceToken',
  'readServiceToken',
  'readServiceTokenLastSeen',
  'issueRotatedSecret',
  'revokeServiceTokenSecret',
  'createReplacementToken',
  'setPreviousSecretExpiry',
  'deleteServiceToken',
  'refreshServiceToken',
  'findPoliciesNamingToken',
  'bindTokenToPolicies',
  'unbindTokenFromPolicies',
  'propagateToStore',
  'verifyStore',
  'restoreStore',
  'probeCredential',
  'notifyRotation',
] as const satisfies ReadonlyArray<keyof All>;
type Name = (typeof ROTATION_ACTIVITIES)[number];
const ROW_ACTIVITIES = {
  audit: 'recordAudit',
  run: 'recordRotationStart',
  step: 'recordRotationStep',
  outcome: 'finishRotationRecord',
} as const satisfies Record<RotationRow['kind'], Name>;
type RetireAndPromote = Parameters<All['retirePreviousSecretAndPromote']>[0];

/** promoteSecret's stub sees the promote alone: the rows that ride along are written as their own calls. */
type StubSet = {
  [K in Name]: K extends 'promoteSecret'
    ? (input: { ref: string }, attempt: number) => Promise<void>
    : (input: Input<K>, attempt: number) => Promise<Output<K>>;
};
export type Stubs = Partial<StubSet>;

export interface RunOptions {
  strategy?: RotationPlan['strategy'];
  plan?: Partial<RotationPlan>;
  mode?: RotationMode;
  stubs?: Stubs;
  /** Runs after the start and before the result is awaited: signals, queries. */
  during?: (handle: WorkflowHandle<typeof rotateServiceToken>, run: Scenario) => Promise<void>;
}

export interface Scenario {
  workflowId: string;
  calls: Call[];
  logs: LogLine[];
}

export interface Run extends Scenario {
  handle: WorkflowHandle<typeof rotateServiceToken>;
  result?: RotationResult;
  failure?: WorkflowFailedError;
  /** Test-clock bounds of the run, for timestamps the workflow chose ("now", "now + overlap"). */
  startedAt: number;
  finishedAt: number;
}

export interface Harness {
  run(options?: RunOptions): Promise<Run>;
  close(): Promise<void>;
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

export async function startHarness(): Promise<Harness> {
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run through jest');
  const scenarios = new Map<string, Scenario & { stubs: StubSet }>();
  // The workflow's `log` reaches the runtime's logger with its workflow id: each line lands in
  // its run's scenario. The SDK's own chatter (a warning per failed stub call) is dropped,
  // its errors are kept. Jest gives each test file its own copy of the SDK, hence its own runtime.
  Runtime.install({
    logger: new DefaultLogger('DEBUG', ({ level, message, meta }) => {
      const workflowId = meta?.sdkComponent === 'workflow' ? meta.workflowId : undefined;
      const scenario = typeof workflowId === 'string' ? scenarios.get(workflowId) : undefined;
      if (scenario) scenario.logs.push({ level, message, attrs: meta ?? {} });
      else if (level === 'ERROR') console.error(message, meta);
    }),
  });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: quiet });
  const connection = await NativeConnection.connect({ address });
  const clientConnection = await Connection.connect({ address });
  const client = new Client({ connection: clientConnection });

  const call = async (queue: Call['queue'], lane: Lane | undefined, name: Name, input: unknown) => {
    const { workflowExecution, attempt, isLocal } = Context.current().info;
    const scenario = workflowExecution && scenarios.get(workflowExecution.workflowId);
    if (!scenario)
      throw ApplicationFailure.create({
        message: `no scenario for ${workflowExecution?.workflowId}`,
        nonRetryable: true,
      });
    scenario.calls.push({
      queue,
      ...(lane ? { lane } : {}),
      name,
      input,
      attempt,
      ...(isLocal ? { local: true } : {}),
    });
    // The stub for `name` takes that activity's input: the one Temporal just delivered.
    const stub: (input: never, attempt: number) => Promise<unknown> = scenario.stubs[name];
    return stub(input as never, attempt);
  };
  const activitiesFor = (queue: Call['queue'], lane?: Lane) => ({
    ...Object.fromEntries(
      ROTATION_ACTIVITIES.map((name) => [name, (input: unknown) => call(queue, lane, name, input)]),
    ),
    // A batch of rows is each row's own activity, in order, as recordRotationRows writes them.
    recordRotationRows: (rows: RotationRow[]) => writeRows(queue, lane, rows),
    // Rows that ride along with the promote: written the same way, once it is done.
    promoteSecret: async ({ rows, ...promote }: Input<'promoteSecret'>) => {
      await call(queue, lane, 'promoteSecret', promote);
      return rows ? { rowResults: await writeRows(queue, lane, rows) } : {};
    },
    // The plan and resolve in one call: each its own stub, side by side.
    planAndResolveServiceToken: async (token: Input<'planRotation'>) => {
      const [plan, resolved] = await Promise.allSettled([
        call(queue, lane, 'planRotation', token),
        call(queue, lane, 'resolveServiceToken', token),
      ]);
      if (resolved.status === 'rejected') throw resolved.reason;
      return { ...(plan.status === 'fulfilled' ? { plan: plan.value } : {}), resolved: resolved.value };
    },
    // Retire and finish in one call: each part is its own stub, in that order.
    retirePreviousSecretAndPromote: async ({ ref, rows, ...retire }: RetireAndPromote) => {
      await call(queue, lane, 'setPreviousSecretExpiry', retire);
      await call(queue, lane, 'promoteSecret', { ref });
      return rows ? { rowResults: await writeRows(queue, lane, rows) } : {};
    },
  });
  const writeRows = async (queue: Call['queue'], lane: Lane | undefined, rows: RotationRow[]) => {
    const results: RotationRowResult[] = [];
    for (const { kind, row } of rows) {
      try {
        results.push((await call(queue, lane, ROW_ACTIVITIES[kind], row)) as HistoryWriteResult);
      } catch (error) {
        if (!(error instanceof ApplicationFailure) || !error.nonRetryable) throw error;
        results.push({ stored: 'rejected', type: String(error.type), message: error.message });
      }
    }
    return results;
  };

  const taskQueue = `tw-rotate-wf-${randomBytes(4).toString('hex')}`;
  const workers = await Promise.all([
    Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: activitiesFor('main') }),
    ...LANES.map((lane) =>
      Worker.create({
        connection,
        taskQueue: cloudflareTaskQueue(taskQueue, lane),
        activities: activitiesFor('cloudflare', lane),
      }),
    ),
  ]);
  const running = workers.map((w) => w.run());

  return {
    async run(options = {}) {
      const workflowId = `rotate/${ACCOUNT}/wf-test-${randomBytes(6).toString('hex')}`;
      const plan: RotationPlan = {
        strategy: options.strategy ?? 'rotate-secret',
        overlapMs: 400,
        propagationWaitMs: 200,
        duration: '8760h',
        hasProbe: true,
        zoneScoped: false,
        targets: TARGETS,
        currentRef: CURRENT_REF,
        currentFingerprint: OLD_FINGERPRINT,
        notifyChannels: [],
        ...options.plan,
      };
      const scenario = {
        workflowId,
        calls: [] as Call[],
        logs: [] as LogLine[],
        stubs: { ...defaults(plan), ...options.stubs },
      };
      scenarios.set(workflowId, scenario);
      const startedAt = Date.now();
      const handle = await client.workflow.start(rotateServiceToken, {
        taskQueue,
        workflowId,
        workflowExecutionTimeout: '45s',
        args: [
          {
            accountId: ACCOUNT,
            tokenName: 'ci-api',
            mode: options.mode ?? 'manual',
            trigger: { actor: 'test:operator', reason: 'workflow test' },
          },
        ],
      });
      await options.during?.(handle, scenario);
      const run: Run = { workflowId, calls: scenario.calls, logs: scenario.logs, handle, startedAt, finishedAt: 0 };
      try {
        run.result = await handle.result();
      } catch (error) {
        if (!(error instanceof WorkflowFailedError)) throw error;
        run.failure = error;
      }
      run.finishedAt = Date.now();
      return run;
    },
    async close() {
      for (const worker of workers) worker.shutdown();
      await Promise.allSettled(running);
      await clientConnection.close();
      await connection.close();
    },
  };
}

// ---- reading a run the way an operator would ----

/** Inputs of every call to one activity, in call order. */
export function inputsOf<K extends Name>(run: Pick<Run, 'calls'>, name: K): Array<Input<K>> {
  return run.calls.filter((c) => c.name === name).map((c) => c.input as Input<K>);
}

/** The step rows handed to `recordRotationStep`, as "step:outcome". */
export function recordedSteps(run: Pick<Run, 'calls'>): string[] {
  return inputsOf(run, 'recordRotationStep').map((s) => `${s.step}:${s.outcome}`);
}

export function recordedStep(
  run: Pick<Run, 'calls'>,
  step: string,
): Parameters<LocalActivities['recordRotationStep']>[0] | undefined {
  return inputsOf(run, 'recordRotationStep').find((s) => s.step === step);
}

/**
 * What `finishRotationRecord` was given: exactly one outcome. The last batch of rows is a local
 * activity, run again when the workflow task that ran it is retried (its completion refused for
 * events that came in meanwhile); the writes are idempotent, so the same row written twice is one.
 */
export function finished(run: Pick<Run, 'calls'>) {
  const all = new Set(inputsOf(run, 'finishRotationRecord').map((row) => JSON.stringify(row)));
  expect(all.size).toBe(1);
  return inputsOf(run, 'finishRotationRecord')[0]!;
}

const BOOKKEEPING = new Set<Name>([
  'planRotation',
  'recordAudit',
  'recordRotationStart',
  'recordRotationStep',
  'finishRotationRecord',
  // The wait's evidence reads (a replace polls last_seen_at): asserted on their own in
  // retire-evidence.workflow.test.ts, left out of the flows of every other test.
  'readServiceTokenLastSeen',
]);

/**
 * The activities that act on Cloudflare, the stores and the staging table, in call order,
 * with history bookkeeping left out. Calls that run side by side within one step (the two
 * store writes, the read-backs and the probe) collapse into one entry, since their relative
 * order is not defined. A probe that expects rejection reads "probeCredential:rejected".
 */
export function flow(run: Pick<Run, 'calls'>): string[] {
  const names = run.calls
    .filter((c) => !BOOKKEEPING.has(c.name))
    .map((c) => {
      if (c.name === 'probeCredential')
        return (c.input as Input<'probeCredential'>).expect === 'accepted' ? 'verifyStore' : 'probeCredential:rejected';
      return c.name;
    });
  return names.filter((name, i) => name !== names[i - 1]);
}

/** The failure type a client sees for a failed run (the workflow's own, or the activity's cause). */
export function failureTypeOf(run: Run): string | undefined {
  const cause = run.failure?.cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : cause?.constructor.name;
}

export function failureDetails(run: Run): Record<string, unknown> | undefined {
  const cause = run.failure?.cause;
  return cause instanceof ApplicationFailure ? (cause.details?.[0] as Record<string, unknown> | undefined) : undefined;
}

/** Every object key found in any activity argument, recursively. */
export function argumentKeys(run: Pick<Run, 'calls'>): Set<string> {
  const keys = new Set<string>();
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        keys.add(key);
        walk(inner);
      }
    }
  };
  run.calls.forEach((c) => walk(c.input));
  return keys;
}

/**
 * Nothing secret crossed an activity boundary: no argument has a field that could carry a
 * secret value, only refs, ids, fingerprints and times (whose names may say "secret").
 */
export function expectNoSecretArguments(run: Pick<Run, 'calls'>): void {
  const keys = [...argumentKeys(run)];
  expect(
    keys.filter((key) => /^(client_?secret|secret|secret_?value|value|plaintext|credential|password)$/i.test(key)),
  ).toEqual([]);
  expect(
    keys
      .filter((key) => /secret/i.test(key))
      .every((key) =>
        ['previousSecretExpiresAt', 'previousSecretExpiredAt', 'recoveredLostSecret', 'secretVersion'].includes(key),
      ),
  ).toBe(true);
  expect(JSON.stringify(run.calls)).not.toMatch(/client_?secret/i);
}

/** A timestamp the workflow chose, in test-clock milliseconds. */
export const at = (iso: unknown) => new Date(String(iso)).getTime();

export async function waitForPhase(
  handle: WorkflowHandle<typeof rotateServiceToken>,
  phase: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const progress = await handle.query(progressQuery).catch(() => null);
    if (progress?.phase === phase) return;
    if (Date.now() > deadline)
      throw new Error(`workflow never reached phase ${phase} (last: ${JSON.stringify(progress)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export type { RotationStep };
