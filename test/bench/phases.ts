import { discoverFirst } from './discovery';
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import type { CountedApiRequest } from '@token-warden/cloudflare-simulator';
import { createDataConverter } from '../../src/temporal/data-converter';
import { rotationWorkflowId } from '../../src/inventory';
import { CloudflareAccountId, TokenKind, TokenName, TriggeredBy } from '../../src/temporal/search-attributes';
import { sleep } from '../chaos/random';
import {
  CLOUDFLARE_ALLOWANCE,
  CLOUDFLARE_WINDOW_MS,
  countByOperation,
  describeRevoke,
  fleetFigures,
  minimum,
  minutes,
  outsideFigures,
  statusFigures,
  steadyRate,
  type FleetFigures,
  type OperationFigure,
  type OutsideFigures,
  type RevokeSample,
  type RotationTally,
  type StatusFigures,
  type StatusSample,
} from './figures';
import type { FloorWorker } from './floor';
import { memoryNote, watchPeakMemory } from './memory';
import type { BenchStack } from './stack';

/** How the schedules start these runs (src/schedules.ts), with the bench as their actor. */
const SCHEDULE_ACTOR = 'schedule:bench';

const describe = (error: unknown): string => {
  const cause = error instanceof WorkflowFailedError ? error.cause : error;
  const type = cause instanceof ApplicationFailure ? `${cause.type ?? 'ApplicationFailure'}: ` : '';
  return `${type}${cause instanceof Error ? cause.message : String(cause)}`;
};

/** token-warden's own requests to the user (no outside ones), from a mark of the request log on. */
function ours(stack: BenchStack, from: number, to?: number): CountedApiRequest[] {
  return stack.requests.since(from, to).filter((e) => e.key === stack.world.userKey && !e.outside);
}

export async function apiCall(
  stack: BenchStack,
  method: 'POST' | 'GET',
  path: string,
  body?: unknown,
  bearer?: string,
): Promise<{ status: number; json: unknown }> {
  if (!stack.api) throw new Error('this stack has no API process');
  const response = await fetch(`${stack.api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer ?? stack.api.operator}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json };
}

/** The run a 202 answer of the API names. */
function startedRun(stack: BenchStack, answer: { status: number; json: unknown }, what: string): WorkflowHandle {
  const data =
    typeof answer.json === 'object' && answer.json !== null && 'data' in answer.json ? answer.json.data : undefined;
  const workflowId =
    typeof data === 'object' && data !== null && 'workflow_id' in data && typeof data.workflow_id === 'string'
      ? data.workflow_id
      : undefined;
  const runId =
    typeof data === 'object' && data !== null && 'run_id' in data && typeof data.run_id === 'string'
      ? data.run_id
      : undefined;
  if (answer.status !== 202 || !workflowId)
    throw new Error(`${what} answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 300)}`);
  return stack.client.workflow.getHandle(workflowId, runId);
}

function startHealthCheck(stack: BenchStack, actor = SCHEDULE_ACTOR): Promise<WorkflowHandle> {
  // As the 6-hourly schedule starts it: check and heal (the bench's tokens need no heal).
  return stack.client.workflow.start('checkTokenHealth', {
    taskQueue: stack.taskQueue,
    workflowId: `token-warden/check-token-health/bench-${randomBytes(4).toString('hex')}`,
    args: [{ trigger: { actor }, autoHeal: true, cron: '0 */6 * * *' }],
    typedSearchAttributes: [
      { key: TriggeredBy, value: actor },
      { key: TokenKind, value: 'api-token' },
    ],
  });
}

function startFleetRotation(stack: BenchStack): Promise<WorkflowHandle> {
  // As the monthly schedule starts it.
  return stack.client.workflow.start('rotateAllServiceTokens', {
    taskQueue: stack.taskQueue,
    workflowId: `token-warden/rotate-service-tokens/bench-${randomBytes(4).toString('hex')}`,
    args: [{ trigger: { actor: SCHEDULE_ACTOR } }],
    typedSearchAttributes: [
      { key: TriggeredBy, value: SCHEDULE_ACTOR },
      { key: TokenKind, value: 'service-token' },
    ],
  });
}

// ---- Requests per operation -------------------------------------------------------------------

interface Measured {
  requests: CountedApiRequest[];
  problem?: string;
}

/** The lists of the policy index's full scan: reusable policies, apps, each app's policies. */
const SCAN_OPERATIONS = [
  'access-policies-list-access-reusable-policies',
  'access-applications-list-access-applications',
  'access-policies-list-access-app-policies',
];

/** The requests one operation sent, alone on the stack: from its start until its run ended. */
async function measure(stack: BenchStack, work: () => Promise<unknown>): Promise<Measured> {
  const from = stack.requests.mark();
  try {
    await work();
    return { requests: ours(stack, from) };
  } catch (error) {
    return { requests: ours(stack, from), problem: describe(error) };
  }
}

const figure = (
  name: string,
  formula: string,
  min: number,
  run: Measured,
  oneOff: OperationFigure['oneOff'] = [],
): OperationFigure => ({
  name,
  formula,
  minimum: min,
  measured: run.problem ? null : run.requests.length,
  byOperation: countByOperation(run.requests),
  oneOff,
  ...(run.problem ? { problem: run.problem } : {}),
});

/**
 * Each operation alone on the fleet's stack, before the fleet, through the API as an operator
 * would ask (the health check as its schedule would). Operations with a one-off cost (the policy
 * index's first scan, the health check's first lookup of token ids) run twice: the second run is
 * the measurement, the difference is shown apart.
 */
export async function measureOperations(stack: BenchStack, log: (line: string) => void): Promise<OperationFigure[]> {
  const { operations, apps, apiTokenNames } = stack.world;
  const stores = operations.cloudflareStores;
  const rotate = async (name: string) => {
    const handle = startedRun(
      stack,
      await apiCall(stack, 'POST', `/service-tokens/${encodeURIComponent(name)}/rotate`, {
        reason: 'bench: requests per operation',
      }),
      `rotate ${name}`,
    );
    await handle.result();
  };
  const figures: OperationFigure[] = [];

  const rotateSecret = await measure(stack, () => rotate(operations.rotateSecret));
  figures.push(
    figure(
      'rotate-secret rotation, Workers secret + Secrets Store',
      `list + rotate + expiry update + ${stores} × (1 write + 1 read-back)`,
      minimum.rotateSecret(stores),
      rotateSecret,
    ),
  );
  log(
    `operations: rotate-secret rotation sent ${rotateSecret.requests.length} requests${rotateSecret.problem ? ` (${rotateSecret.problem})` : ''}`,
  );

  const k = operations.replacePolicies;
  const firstReplace = await measure(stack, () => rotate(operations.replace));
  const replace = await measure(stack, () => rotate(operations.replace));
  const scanOf = (run: Measured) => run.requests.filter((e) => SCAN_OPERATIONS.includes(e.operationId)).length;
  figures.push(
    figure(
      `replace rotation, ${k} policies, same targets`,
      `list + create + ${k} × (GET + PUT) bind + 1 last_seen_at read + ${k} × (GET + PUT) unbind + delete + ${stores} × (2 writes + 1 read-back)`,
      minimum.replace(k, stores),
      replace,
      [
        {
          label: `policy index scan: the first replace (the account's first edit) sent ${firstReplace.requests.length} requests, ${scanOf(firstReplace)} of them scan lists; the measured (second) one ${scanOf(replace)} scan lists`,
          requests: firstReplace.requests.length - replace.requests.length,
          expected: minimum.policyScan(apps),
        },
      ],
    ),
  );
  log(
    `operations: replace rotation sent ${firstReplace.requests.length} requests the first time (${scanOf(firstReplace)} scan lists), ${replace.requests.length} the second (${scanOf(replace)})`,
  );

  if (apiTokenNames.length) {
    const health = async () => (await startHealthCheck(stack)).result();
    const firstHealth = await measure(stack, health);
    const secondHealth = await measure(stack, health);
    const n = apiTokenNames.length;
    figures.push(
      figure(
        `health check of ${n} API tokens (token-warden's own among them)`,
        `${n} × GET + 1 permission-group list`,
        minimum.health(n),
        secondHealth,
        [
          {
            label: `first run, token ids not yet known (it sent ${firstHealth.requests.length})`,
            requests: firstHealth.requests.length - secondHealth.requests.length,
            expected: n,
          },
        ],
      ),
    );
    log(
      `operations: health check sent ${firstHealth.requests.length} requests the first time, ${secondHealth.requests.length} the second`,
    );
  }

  const revoke = await measure(stack, async () => {
    const handle = startedRun(
      stack,
      await apiCall(stack, 'POST', `/service-tokens/${encodeURIComponent(operations.revoke)}/revoke`, {
        reason: 'bench: requests per operation',
      }),
      `revoke ${operations.revoke}`,
    );
    await handle.result();
  });
  figures.push(
    figure(
      'emergency revoke, same targets, no rotation running',
      `list + rotate (ends the old secret) + ${stores} × (1 write + 1 read-back)`,
      minimum.revoke(stores),
      revoke,
    ),
  );
  log(
    `operations: emergency revoke sent ${revoke.requests.length} requests${revoke.problem ? ` (${revoke.problem})` : ''}`,
  );
  return figures;
}

// ---- The fleet --------------------------------------------------------------------------------

export interface FleetOptions {
  timeScale: number;
  budgetPer5Min: number;
  revokes: number;
  /** Each status client polls again this long after its answer. */
  pollIntervalMs: number;
  floor: FloorWorker;
  log: (line: string) => void;
}

export interface FleetResult {
  figures: FleetFigures;
  byOperation: Record<string, number>;
  rotations: RotationTally;
  revokes: Array<number | null>;
  /** Each revoke's timeline: the API's answer, its run's first workflow task and activity. */
  revokeSamples: RevokeSample[];
  floors: Array<number | null>;
  status: StatusFigures;
  notes: string[];
  fanOutMs: number | null;
  healthMs: number | null;
}

/** The least the fleet can send (each token's minimum, one health run): what the deadline is sized on. */
export function expectedRequests(stack: BenchStack): number {
  const rotations = stack.world.tokens.reduce(
    (sum, t) =>
      sum +
      (t.strategy === 'replace'
        ? minimum.replace(t.policies, t.cloudflareStores)
        : minimum.rotateSecret(t.cloudflareStores)),
    0,
  );
  return rotations + (stack.world.apiTokenNames.length ? minimum.health(stack.world.apiTokenNames.length) : 0);
}

async function dbNow(stack: BenchStack): Promise<Date> {
  const { rows } = await stack.pool.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now;
}

async function tallyRotations(stack: BenchStack, since: Date): Promise<RotationTally & { finished: number }> {
  const { rows } = await stack.pool.query<{ token_name: string; status: string }>(
    'SELECT token_name, status FROM rotations WHERE account_id = $1 AND started_at >= $2',
    [stack.world.accountId, since],
  );
  const names = new Set(stack.world.tokens.map((t) => t.name));
  const count = (status: string) => rows.filter((r) => r.status === status).length;
  return {
    tokens: names.size,
    rotated: new Set(rows.filter((r) => r.status === 'completed' && names.has(r.token_name)).map((r) => r.token_name))
      .size,
    completed: count('completed'),
    compensated: count('compensated'),
    failed: count('failed'),
    unfinished: count('running'),
    finished: rows.length - count('running'),
  };
}

/**
 * What the runs still going are waiting on: each one's pending activities, their attempt and last
 * failure (Temporal's own record), for the first `limit` of them.
 */
async function stuckRuns(stack: BenchStack, since: Date, limit = 5): Promise<string[]> {
  const { rows } = await stack.pool.query<{ workflow_id: string; run_id: string; token_name: string }>(
    "SELECT workflow_id, run_id, token_name FROM rotations WHERE account_id = $1 AND started_at >= $2 AND status = 'running' ORDER BY started_at LIMIT $3",
    [stack.world.accountId, since, limit],
  );
  const converter = loadDataConverter(createDataConverter(stack.keys));
  const lines: string[] = [];
  for (const row of rows) {
    const description = await stack.client.workflow
      .getHandle(row.workflow_id, row.run_id)
      .describe()
      .catch(() => undefined);
    const pending = await Promise.all(
      (description?.raw.pendingActivities ?? []).map(async (a) => {
        // Failure messages travel encrypted (encodeCommonAttributes): decoded with the run's key.
        const failure = await decodeOptionalFailureToOptionalError(converter, a.lastFailure).catch(() => undefined);
        return `${a.activityType?.name ?? '?'} attempt ${a.attempt ?? '?'}${failure ? ` (last failure: ${failure.message.slice(0, 160)})` : ''}`;
      }),
    );
    lines.push(
      `still running: ${row.token_name}: ${pending.join('; ') || 'no activity pending (waiting in the workflow)'}`,
    );
  }
  // What the workers' connections to the stack's database were doing (a lock convoy, an exhausted pool).
  const { rows: sessions } = await stack.pool.query<{ state: string; wait: string; n: number; longest: number }>(
    `SELECT state, coalesce(wait_event_type || '/' || wait_event, '') AS wait, count(*)::int AS n,
            round(extract(epoch FROM max(clock_timestamp() - xact_start)))::int AS longest
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
      GROUP BY 1, 2 ORDER BY 3 DESC`,
  );
  if (sessions.length)
    lines.push(
      `database sessions then: ${sessions.map((r) => `${r.n} ${r.state}${r.wait ? ` (${r.wait})` : ''}, longest transaction ${r.longest ?? 0} s`).join('; ')}`,
    );
  return lines;
}

/** Clients polling GET /tokens/status, each again `intervalMs` after its answer, until stopped. */
function startPollers(
  stack: BenchStack,
  intervalMs: number,
): { stop(): Promise<{ samples: StatusSample[]; durationMs: number }> } {
  const samples: StatusSample[] = [];
  let running = true;
  const began = Date.now();
  const loops = (stack.api?.pollers ?? []).map(async (bearer, i) => {
    await sleep((intervalMs * i) / Math.max(1, stack.api?.pollers.length ?? 1));
    while (running) {
      const at = Date.now();
      const status = await apiCall(stack, 'GET', '/tokens/status', undefined, bearer).then(
        (answer) => answer.status,
        () => null,
      );
      samples.push({ ms: Date.now() - at, status });
      await sleep(intervalMs);
    }
  });
  return {
    async stop() {
      running = false;
      const durationMs = Date.now() - began;
      await Promise.all(loops);
      return { samples, durationMs };
    },
  };
}

/**
 * The fleet: every service token rotated by rotateAllServiceTokens (as the monthly schedule starts
 * it) while checkTokenHealth checks every API token (as the 6-hourly schedule starts it), the
 * status clients poll, and emergency revokes of tokens the fleet has not reached yet come in,
 * spread over the run, each paired with a measurement of the bare floor.
 */
export async function runFleet(stack: BenchStack, options: FleetOptions): Promise<FleetResult> {
  const { log } = options;
  const notes: string[] = [];
  const expected = expectedRequests(stack);
  const budgetPerWallSecond = (options.budgetPer5Min * options.timeScale) / (CLOUDFLARE_WINDOW_MS / 1000);
  const idealWallMs = (expected / budgetPerWallSecond) * 1000;
  const deadlineMs = Math.round(2.5 * idealWallMs + 180_000);
  log(
    `fleet: at least ${expected} requests, ${minutes(idealWallMs)} of wall time at the budget's rate (${minutes(idealWallMs * options.timeScale)} in production time); giving up after ${minutes(deadlineMs)}`,
  );

  // The daily discovery ran before, as in production: a revoke rotates the id it recorded first.
  // A window later the fleet starts with the whole budget, as it would hours after.
  await discoverFirst(stack, notes, 'the fleet');
  await sleep(CLOUDFLARE_WINDOW_MS / options.timeScale);

  const since = await dbNow(stack);
  const from = stack.requests.mark();
  const pollers = startPollers(stack, options.pollIntervalMs);
  const memory = watchPeakMemory(stack.workers);
  const began = Date.now();
  const [fanOut, health] = await Promise.all([
    startFleetRotation(stack),
    stack.world.apiTokenNames.length ? startHealthCheck(stack) : null,
  ]);
  const ended = (handle: WorkflowHandle | null, what: string) =>
    handle
      ? handle.result().then(
          () => Date.now(),
          (error: unknown) => {
            notes.push(`${what} failed: ${describe(error)}`);
            return Date.now();
          },
        )
      : Promise.resolve(null);
  let fanOutEnd: number | null = null;
  let healthEnd: number | null = null;
  const fanOutDone = ended(fanOut, 'rotateAllServiceTokens').then((at) => (fanOutEnd = at));
  const healthDone = ended(health, 'checkTokenHealth').then((at) => (healthEnd = at));

  let finished = 0;
  let watching = true;
  const watcher = (async () => {
    let lastLog = Date.now();
    while (watching) {
      finished = (await tallyRotations(stack, since).catch(() => ({ finished }))).finished;
      if (Date.now() - lastLog >= 15_000) {
        lastLog = Date.now();
        log(
          `fleet: ${Math.round((Date.now() - began) / 1000)} s, ${finished} rotations finished, ${ours(stack, from).length} requests${healthEnd ? '' : ', health check running'}${await fanOutProgress(fanOut)}`,
        );
      }
      await sleep(1_000);
    }
  })();

  // Emergency revokes of tokens not reached yet, at evenly spread points of the fleet's progress.
  const revokes: Array<number | null> = [];
  const samples: RevokeSample[] = [];
  const floors: Array<number | null> = [];
  const revoked = new Set<string>();
  let over = false;
  const driver = (async () => {
    const tokens = stack.world.tokens;
    for (let i = 0; i < options.revokes; i++) {
      // Spread over the first 85 % of the fleet: near its end no token may be left unreached.
      const due = Math.floor(((i + 0.5) / options.revokes) * 0.85 * tokens.length);
      while (finished < due && fanOutEnd === null && !over) await sleep(250);
      if (over) return;
      if (fanOutEnd !== null) {
        notes.push(
          `the fleet finished before revoke ${i + 1} of ${options.revokes}: ${revokes.length} revokes measured`,
        );
        return;
      }
      const token = await unrotated(stack, revoked);
      if (!token) {
        notes.push(`revoke ${i + 1}: no token left whose rotation had not issued yet`);
        continue;
      }
      revoked.add(token.name);
      // Interleaved: every other pair measures the floor first.
      if (i % 2 === 1) floors.push(await options.floor.measure(120_000));
      const revoke = await revokeLatency(stack, token, notes);
      revokes.push(revoke.ms);
      samples.push(revoke);
      if (i % 2 === 0) floors.push(await options.floor.measure(120_000));
      log(
        `fleet: revoke ${i + 1} of ${options.revokes} (${token.name}): ${describeRevoke(revoke)}; floor ${floors.at(-1) ?? 'missing'} ms`,
      );
    }
  })();

  const timedOut = await Promise.race([
    Promise.all([fanOutDone, healthDone, driver]).then(() => false),
    sleep(deadlineMs).then(() => true),
  ]);
  if (timedOut)
    notes.push(
      `the fleet did not finish within ${minutes(deadlineMs)} (2.5 × its least time + 3 min): stopped waiting; runs still going count as unfinished`,
    );
  const stopped = Date.now();
  over = true;
  await driver;
  const polled = await pollers.stop();
  notes.push(memoryNote(memory.stop(), stack.fromDist));
  watching = false;
  await watcher;
  const rotations = await tallyRotations(stack, since);
  if (rotations.unfinished) notes.push(...(await stuckRuns(stack, since)));
  const requests = ours(stack, from);
  const end = timedOut ? stopped : Math.max(fanOutEnd ?? stopped, healthEnd ?? 0);
  return {
    figures: fleetFigures({
      requests,
      timeScale: options.timeScale,
      budgetPer5Min: options.budgetPer5Min,
      wallMs: end - began,
    }),
    byOperation: countByOperation(requests),
    rotations,
    revokes,
    revokeSamples: samples,
    floors,
    status: statusFigures(polled.samples, polled.durationMs, stack.api?.pollers.length ?? 0),
    notes,
    fanOutMs: fanOutEnd === null ? null : fanOutEnd - began,
    healthMs: healthEnd === null ? null : healthEnd - began,
  };
}

/** The fan-out's own account of itself (its `fanOutProgress` query), for the log; empty when it has none. */
async function fanOutProgress(handle: WorkflowHandle): Promise<string> {
  const progress: unknown = await handle.query('fanOutProgress').catch(() => undefined);
  if (typeof progress !== 'object' || progress === null) return '';
  const field = (name: string): unknown =>
    name in progress ? Object.getOwnPropertyDescriptor(progress, name)?.value : undefined;
  const use = field('budgetUse');
  return `; fan-out: ${String(field('running'))} running (concurrency ${String(field('concurrency'))}), ${String(field('waiting'))} waiting${typeof use === 'number' ? `, budget use ${Math.round(use * 100)} %` : ''}`;
}

/** Steps of rotateServiceToken before it issues (its `progress` query's phase). */
const BEFORE_ISSUE = new Set(['plan', 'resolve']);

/**
 * A fleet token whose rotation has not issued yet, so a revoke now makes its `rotate` the one that
 * ends the compromised secret: one no rotation has started for (the latest in the inventory first:
 * a fan-out reaches it last), else one whose rotation is still before its issue step. A rotation
 * may still issue between this look and the revoke: then its rotate is not the revoke's, a race
 * the revoke's own run settles (and the bench cannot tell apart).
 */
async function unrotated(
  stack: BenchStack,
  taken: ReadonlySet<string>,
): Promise<BenchStack['world']['tokens'][number] | undefined> {
  const candidates = stack.world.tokens
    .slice(3)
    .reverse()
    .filter((t) => !taken.has(t.name));
  let early: BenchStack['world']['tokens'][number] | undefined;
  for (const token of candidates.slice(0, 100)) {
    const handle = stack.client.workflow.getHandle(rotationWorkflowId(stack.world.accountId, token.name));
    try {
      const { status } = await handle.describe();
      if (early || status.name !== 'RUNNING') continue;
      const progress: unknown = await handle.query('progress').catch(() => undefined);
      const phase =
        typeof progress === 'object' && progress !== null && 'phase' in progress ? progress.phase : undefined;
      if (typeof phase === 'string' && BEFORE_ISSUE.has(phase)) early = token;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return token;
      throw error;
    }
  }
  return early;
}

/** POST …/revoke → Cloudflare's `rotate` of that token arriving at the simulator, and what the run's history says of the time between. */
export async function revokeLatency(
  stack: BenchStack,
  token: { name: string; tokenId: string },
  notes: string[],
): Promise<RevokeSample> {
  const path = `/accounts/${stack.world.accountId}/access/service_tokens/${token.tokenId}/rotate`;
  const arrived = stack.requests.next((event) => event.method === 'POST' && event.path === path, 120_000);
  const began = Date.now();
  const answer = await apiCall(stack, 'POST', `/service-tokens/${encodeURIComponent(token.name)}/revoke`, {
    reason: 'bench: credential reported leaked',
  }).catch((error: unknown) => ({ status: 0, json: String(error) }));
  const answeredMs = Date.now() - began;
  if (answer.status !== 202)
    notes.push(`revoke of ${token.name} answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 200)}`);
  const event = await arrived;
  if (!event) notes.push(`revoke of ${token.name}: no rotate of its token reached Cloudflare within 120 s`);
  const sample: RevokeSample = { token: token.name, ms: event ? event.at - began : null, answeredMs };
  if (answer.status === 202) {
    const history = await startedRun(stack, answer, 'revoke')
      .fetchHistory()
      .catch(() => undefined);
    // From the revoke's signal on (a run already going has earlier events of its own).
    const all = history?.events ?? [];
    const events = all.slice(
      Math.max(
        0,
        all.findIndex((e) => e.workflowExecutionSignaledEventAttributes),
      ),
    );
    const at = (found: (typeof events)[number] | undefined) =>
      found?.eventTime ? tsToMs(found.eventTime) - began : null;
    sample.history = {
      workflowTaskStarted: at(events.find((e) => e.workflowTaskStartedEventAttributes)),
      activityScheduled: at(events.find((e) => e.activityTaskScheduledEventAttributes)),
      activityStarted: at(events.find((e) => e.activityTaskStartedEventAttributes)),
    };
  }
  return sample;
}

// ---- An outside client on the same user -----------------------------------------------------

export interface OutsideOptions {
  timeScale: number;
  /** Share of Cloudflare's allowance the outside client spends, evenly. */
  share: number;
  headers: boolean;
  budgetPer5Min: number;
  log: (line: string) => void;
}

export interface OutsideResult {
  figures: OutsideFigures;
  rotations: RotationTally;
  wallMs: number;
  notes: string[];
}

/**
 * rotateAllServiceTokens over the stack's tokens while another client of the same user (the
 * dashboard, Terraform) spends `share` of Cloudflare's allowance, evenly, from a little before
 * the fleet starts until it ends. With `headers` off the simulator sends no rate-limit headers.
 */
export async function runOutside(stack: BenchStack, options: OutsideOptions): Promise<OutsideResult> {
  const notes: string[] = [];
  const { sim, world } = stack;
  sim.rateLimit.configure({ headers: options.headers });
  sim.rateLimit.reset();
  const windowMs = CLOUDFLARE_WINDOW_MS / options.timeScale;
  const perMs = (options.share * CLOUDFLARE_ALLOWANCE) / windowMs;
  const since = await dbNow(stack);
  const from = stack.requests.mark();
  let spending = true;
  const spender = (async () => {
    const began = Date.now();
    let spent = 0;
    while (spending) {
      const due = Math.floor((Date.now() - began) * perMs) - spent;
      if (due > 0) {
        sim.rateLimit.spend({ key: world.userKey }, due);
        spent += due;
      }
      await sleep(50);
    }
  })();
  await sleep(windowMs / 10);
  const began = Date.now();
  const deadlineMs = Math.round(
    2.5 * ((expectedRequests(stack) * windowMs) / (CLOUDFLARE_ALLOWANCE * (1 - options.share))) + 180_000,
  );
  options.log(
    `outside (${options.headers ? 'headers on' : 'headers off'}): ${world.tokens.length} rotations while another client spends ${Math.round(options.share * CLOUDFLARE_ALLOWANCE)} requests per window; giving up after ${minutes(deadlineMs)}`,
  );
  const fanOut = await startFleetRotation(stack);
  const done = fanOut.result().then(
    () => false,
    (error: unknown) => {
      notes.push(`rotateAllServiceTokens failed: ${describe(error)}`);
      return false;
    },
  );
  const progress = setInterval(() => {
    const user = stack.requests.since(from).filter((e) => e.key === world.userKey);
    const refused = user.filter((e) => e.rateLimited).length;
    options.log(
      `outside: ${Math.round((Date.now() - began) / 1000)} s, ${user.filter((e) => !e.outside).length} requests of token-warden, ${user.filter((e) => e.outside).length} outside, ${refused} refused`,
    );
  }, 15_000);
  const timedOut = await Promise.race([done, sleep(deadlineMs).then(() => true)]).finally(() =>
    clearInterval(progress),
  );
  if (timedOut) notes.push(`the rotations did not finish within ${minutes(deadlineMs)}`);
  const wallMs = Date.now() - began;
  spending = false;
  await spender;
  const figures = outsideFigures(stack.requests.since(from), world.userKey, windowMs, options.headers);
  // The two clients together exceed Cloudflare's allowance only once token-warden has kept its pace for a whole window.
  if (figures.ours < 1.5 * options.budgetPer5Min)
    notes.push(
      `token-warden sent ${figures.ours} requests, less than 1.5 windows of its budget: too few to press Cloudflare's allowance (raise --outside-tokens)`,
    );
  const rotations = await tallyRotations(stack, since);
  if (rotations.unfinished) notes.push(...(await stuckRuns(stack, since)));
  return { figures, rotations, wallMs, notes };
}

// ---- Calibration ----------------------------------------------------------------------------

/**
 * Requests per second this machine sends to Cloudflare with nothing holding it back: every token of
 * the stack rotated at once (rotations started directly, as a fan-out that the budget never slows
 * would), Cloudflare's limit off and the workers' budget unlimited.
 */
export async function measureMachineRate(
  stack: BenchStack,
  log: (line: string) => void,
): Promise<{ requestsPerSecond: number; requests: number; ms: number }> {
  const from = stack.requests.mark();
  const began = Date.now();
  const handles = await Promise.all(
    stack.world.tokens.map((t) =>
      stack.client.workflow.start('rotateServiceToken', {
        taskQueue: stack.taskQueue,
        workflowId: rotationWorkflowId(stack.world.accountId, t.name),
        args: [
          {
            accountId: stack.world.accountId,
            tokenName: t.name,
            mode: 'scheduled',
            trigger: { actor: 'schedule:bench-calibration' },
          },
        ],
        typedSearchAttributes: [
          { key: TokenName, value: t.name },
          { key: CloudflareAccountId, value: stack.world.accountId },
          { key: TokenKind, value: 'service-token' },
          { key: TriggeredBy, value: 'schedule:bench-calibration' },
        ],
      }),
    ),
  );
  const failures: string[] = [];
  const all = Promise.all(
    handles.map((h) => h.result().catch((error: unknown) => void failures.push(describe(error)))),
  );
  const timedOut = await Promise.race([all.then(() => false), sleep(10 * 60_000).then(() => true)]);
  const requests = ours(stack, from);
  const rate = steadyRate(requests.map((e) => e.at));
  log(
    `calibration: ${handles.length} rotations at once sent ${requests.length} requests in ${minutes(Date.now() - began)}: ${rate.toFixed(1)} requests/s in the steady middle${failures.length ? `; ${failures.length} failed (${failures[0]})` : ''}${timedOut ? '; stopped waiting after 10 min' : ''}`,
  );
  return { requestsPerSecond: rate, requests: requests.length, ms: Date.now() - began };
}
