import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import type { Pool } from 'pg';
import { createCloudflareClient } from '../../src/cloudflare/client';
import { startSimulator, type ApiRequestEvent } from '../../src/cloudflare/simulator';
import { readSecret } from '../../src/config';
import { createAdvisoryLock } from '../../src/db/advisory-lock';
import { createHistoryRepository } from '../../src/db/history-repository';
import { createRotationRepository } from '../../src/db/rotation-repository';
import { rotationWorkflowId } from '../../src/inventory';
import { startWorkers, type RunningWorkers } from '../../src/runtime/workers';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import type { EncryptionKeys } from '../../src/temporal/codec';
import { CloudflareAccountId, RotationStrategy, TokenKind, TokenName, TriggeredBy } from '../../src/temporal/search-attributes';
import type { rotateServiceToken } from '../../src/workflows/rotate-service-token';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { adoptCredentials, buildChaosWorld } from '../chaos/world';
import { runCleanups } from '../chaos/infrastructure';
import type { AttemptRequests, RequestAttribution } from './attribution';

export interface ScenarioSpec {
  name: string;
  /** As production would configure it (CLOUDFLARE_ACTIVITIES_PER_SECOND); the worker gets this × the time scale. */
  activitiesPerSecond: number;
  /** The simulator answers 429 past Cloudflare's allowance (off in the baseline, which measures demand). */
  enforceLimit: boolean;
}

/** What every scenario of one run shares: infrastructure and the Temporal client. */
export interface BenchContext {
  temporalAddress: string;
  client: Client;
  pool: Pool;
  keys: EncryptionKeys;
  workDir: string;
  attribution: RequestAttribution;
  log: (line: string) => void;
}

export interface ScenarioOptions {
  tokens: number;
  /** Cloudflare's window and the worker's activity budget both run this many times faster. */
  timeScale: number;
  /** Rotations still running after this are terminated and reported unfinished. */
  timeoutMs: number;
  /**
   * More Access apps in the account, each with a policy of its own that names none of the
   * tokens: every bind and unbind lists each app's policies, so this is what a larger account costs.
   */
  extraApps: number;
}

/** One scenario's observations, before any window is chosen to look at them through. */
export interface ScenarioRun {
  spec: ScenarioSpec;
  /** Cloudflare's window and the worker's budget ran this many times faster. */
  timeScale: number;
  tokens: number;
  strategies: Record<string, number>;
  /** Access apps in the account: each costs every bind and unbind one more request. */
  accessApps: number;
  completed: number;
  failed: Array<{ token: string; type: string; message: string }>;
  unfinished: number;
  /** First start to last end. */
  wallMs: number;
  /** Every Cloudflare API request, as it arrived. */
  requests: ApiRequestEvent[];
  /** Attempts of activities on the Cloudflare queue, from the workflows' histories: what the limiter dispatched. */
  activities: number;
  /** When the limiter dispatched each of them (the last attempt's start, for a retried one). */
  activityStarts: number[];
  /** Requests per activity attempt, from the activities' side. */
  attempts: AttemptRequests[];
  /** The Cloudflare task queue of the scenario. */
  cloudflareQueue: string;
  requestsOutsideActivities: number;
}

type RotationHandle = WorkflowHandle<typeof rotateServiceToken>;

async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}

/** Cloudflare-queue activity attempts of one run: one start time per activity (its last attempt's). */
async function cloudflareActivities(handle: RotationHandle, queue: string): Promise<{ attempts: number; startedAt: number[] }> {
  const history = await handle.fetchHistory();
  const scheduledOnQueue = new Set<string>();
  let attempts = 0;
  const startedAt: number[] = [];
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled && scheduled.taskQueue?.name === queue) scheduledOnQueue.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduledOnQueue.has(String(started.scheduledEventId))) {
      attempts += started.attempt ?? 1;
      startedAt.push(tsToMs(event.eventTime));
    }
  }
  return { attempts, startedAt };
}

/**
 * One scenario: a fresh simulator (Cloudflare's window divided by the time scale), a chaos world
 * of `tokens` service tokens of both strategies with file, Workers-secret and Secrets-Store
 * targets, a task queue and workers of its own with the scenario's Cloudflare budget; then every
 * token rotated at once, as a fleet's monthly schedule, expiry sweep and operators can do, while
 * every Cloudflare API request is recorded as it arrives.
 */
export async function runScenario(context: BenchContext, spec: ScenarioSpec, options: ScenarioOptions): Promise<ScenarioRun> {
  const { client, pool, keys, attribution, log } = context;
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const sim = await startSimulator({ port: 0, seed: 'demo', timeScale: options.timeScale, rateLimit: { enabled: spec.enforceLimit } });
    cleanups.push(() => sim.close());
    const slug = spec.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const dir = path.join(context.workDir, slug);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Cloudflare's Secrets Store holds 100 secrets per account; the world's needs two per third token.
    sim.state.secretsStore.setQuota(Math.max(100, options.tokens));
    const { world, initial } = buildChaosWorld(sim, { count: options.tokens, dir, overlap: '5s', propagationWait: '1s' });
    for (let i = 0; i < options.extraApps; i++) {
      const app = sim.state.createAccessApp({ accountId: world.accountId, name: `bench app ${i}`, domain: `app-${i}.bench.token-warden.example` });
      sim.state.createAccessPolicy({ accountId: world.accountId, appId: app.id, name: `bench app ${i} staff`, decision: 'allow', include: [{ everyone: {} }] });
    }
    const accessApps = sim.state.access.listApps(world.accountId).length;
    const pending = createPendingSecretStore(pool, createSecretBox(keys));
    await adoptCredentials(world, initial, pending);
    initial.clear();

    const taskQueue = `tw-bench-${slug}-${randomBytes(4).toString('hex')}`;
    const queue = cloudflareTaskQueue(taskQueue);
    const wardenClient = (purpose: 'reads' | 'mutations') => createCloudflareClient({ apiToken: world.wardenToken, baseURL: sim.baseURL, purpose });
    const workers: RunningWorkers = await startWorkers({
      temporal: { address: context.temporalAddress, namespace: 'default' },
      taskQueue,
      keys,
      cloudflareActivitiesPerSecond: spec.activitiesPerSecond * options.timeScale,
      deps: {
        inventory: world.inventory,
        readSecret: (source) => readSecret(source, {}),
        cloudflare: createCloudflareClient,
        cloudflareBaseURL: sim.baseURL,
        history: createHistoryRepository(pool),
        rotations: createRotationRepository(pool),
        pending,
        wardenClient,
        stores: world.storeDeps,
        // As production: Access policy edits serialised by a Postgres advisory lock.
        policyLock: createAdvisoryLock(pool),
      },
    });
    cleanups.push(() => workers.shutdown());

    // Setting the world up cost requests too; the measurement starts with the rotations.
    sim.calls.reset();
    sim.faults.resetRateLimit();
    const events: ApiRequestEvent[] = [];
    const unsubscribe = sim.calls.onRequest((event) => events.push(event));
    cleanups.push(async () => unsubscribe());
    attribution.watch(sim.baseURL);
    cleanups.push(async () => void attribution.stop());

    const strategies: Record<string, number> = {};
    for (const t of world.tokens) strategies[t.strategy] = (strategies[t.strategy] ?? 0) + 1;
    log(`${spec.name}: ${world.tokens.length} rotations at once, ${spec.activitiesPerSecond} Cloudflare activities/s (× ${options.timeScale.toFixed(1)}), Cloudflare's limit ${spec.enforceLimit ? 'enforced' : 'not enforced'}`);

    const began = Date.now();
    const handles = await Promise.all(
      world.tokens.map((t) =>
        client.workflow.start<typeof rotateServiceToken>('rotateServiceToken', {
          taskQueue,
          workflowId: rotationWorkflowId(world.accountId, t.name),
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          args: [{ accountId: world.accountId, tokenName: t.name, mode: 'scheduled', trigger: { actor: 'bench' } }],
          typedSearchAttributes: [
            { key: TokenName, value: t.name },
            { key: CloudflareAccountId, value: world.accountId },
            { key: RotationStrategy, value: t.strategy },
            { key: TokenKind, value: 'service-token' },
            { key: TriggeredBy, value: 'bench' },
          ],
        }),
      ),
    );

    let ended = began;
    let finished = 0;
    /** Set at the deadline: runs terminated then are unfinished, not failures. */
    let closed = false;
    const failed: ScenarioRun['failed'] = [];
    const deadline = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
      cleanups.push(async () => clearTimeout(timer));
    });
    const progress = setInterval(() => log(`${spec.name}: ${finished}/${handles.length} rotations done after ${Math.round((Date.now() - began) / 1000)} s, ${events.length} Cloudflare requests`), 15_000);
    cleanups.push(async () => clearInterval(progress));
    const outcomes = handles.map((handle, i) =>
      handle.result().then(
        () => {
          if (closed) return false;
          finished += 1;
          ended = Math.max(ended, Date.now());
          return true;
        },
        (error: unknown) => {
          if (closed) return false;
          finished += 1;
          ended = Math.max(ended, Date.now());
          const cause = error instanceof WorkflowFailedError ? error.cause : error;
          failed.push({ token: world.tokens[i]!.name, type: cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : cause instanceof Error ? cause.name : 'Error', message: cause instanceof Error ? cause.message : String(cause) });
          return false;
        },
      ),
    );
    const all = await Promise.race([Promise.all(outcomes), deadline]);
    closed = true;
    const unfinished = handles.length - finished;
    if (all === 'timeout') {
      ended = Date.now();
      log(`${spec.name}: ${unfinished} rotations still running after ${Math.round(options.timeoutMs / 1000)} s; terminating them`);
      await inBatches(handles, 20, (h) => h.terminate('bench timeout').catch(() => undefined));
    }
    unsubscribe();
    const attempts = attribution.stop();

    const dispatched = await inBatches(handles, 16, (h) => cloudflareActivities(h, queue));
    return {
      spec,
      timeScale: options.timeScale,
      tokens: world.tokens.length,
      strategies,
      accessApps,
      completed: handles.length - unfinished - failed.length,
      failed,
      unfinished,
      wallMs: ended - began,
      requests: events,
      activities: dispatched.reduce((sum, d) => sum + d.attempts, 0),
      activityStarts: dispatched.flatMap((d) => d.startedAt),
      attempts,
      cloudflareQueue: queue,
      requestsOutsideActivities: attribution.outsideActivities,
    };
  } finally {
    await runCleanups(cleanups, log);
  }
}
