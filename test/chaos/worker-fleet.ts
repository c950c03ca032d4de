import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { RestartableChild, type ChildExit } from '../support/processes';
import { describeOutage, type Outage, type OutageLog } from './outages';
import { sleep, sleepUnless, type ChaosRandom } from './random';
import { killBetweenAnswerAndStaging } from './staging-gate';

/** SIGKILLs of each worker: after an uptime in [min, max]; some during start-up, some aimed between Cloudflare's answer and the staging write. */
export interface KillOptions {
  minUptimeMs: number;
  maxUptimeMs: number;
  startupShare: number;
  aimedShare: number;
  /** Per worker. */
  maxKills: number;
}

/** An exit nobody asked for. */
export interface WorkerExit {
  worker: string;
  at: number;
  code: number | null;
  signal: string | null;
  /** The outage it is blamed on; null: it crashed with every server up. */
  outage: string | null;
  /**
   * It took the way out src/worker.ts has for what it cannot carry on with (a failed worker, a
   * start-up that cannot connect): `token-warden worker failed: …` and exit 1. Otherwise it died
   * of something nobody handled (an uncaught exception, a signal), which is a finding even in an outage.
   */
  orderly: boolean;
  /** What it last said on stdout or stderr (its log has the rest). */
  lastWords: string;
}

/** The entry point's last words when it exits on purpose (src/runtime/entrypoint.ts). */
const ORDERLY_EXIT = /^token-warden worker (failed:|cannot start:)/;
/** The heading of an exception Node printed on its way out. */
const EXCEPTION = /^\s*(?:[A-Za-z]*Error|error)\b.*:/;

export interface WorkerFigures {
  name: string;
  starts: number;
  kills: number;
  startupKills: number;
  aimedKills: number;
  aimedMissed: number;
  exitsInOutages: number;
  crashes: number;
  logFile: string;
}

/** One worker process (src/worker.ts); its Postgres sessions carry its name as application_name. */
class ChaosWorker {
  readonly applicationName: string;
  readonly child: RestartableChild;
  readonly figures = { startupKills: 0, aimedKills: 0, aimedMissed: 0 };
  readonly lastLines: string[] = [];
  startedAt = 0;
  /** Restarts after exits in a row, for the backoff. */
  restartsInARow = 0;

  constructor(
    readonly name: string,
    readonly logFile: string,
    env: Record<string, string>,
    databaseUrl: string,
    onExit: (worker: ChaosWorker, exit: ChildExit) => void,
  ) {
    this.applicationName = `chaos-${name}`;
    const url = new URL(databaseUrl);
    url.searchParams.set('application_name', this.applicationName);
    this.child = new RestartableChild({
      name,
      entry: 'src/worker.ts',
      logFile,
      env: { ...env, DATABASE_URL: url.toString() },
      onOutputLine: (line) => {
        this.lastLines.push(line);
        if (this.lastLines.length > 20) this.lastLines.shift();
      },
      onExit: (exit) => onExit(this, exit),
    });
  }

  start(): void {
    if (this.child.running()) return;
    this.startedAt = Date.now();
    this.lastLines.length = 0;
    this.child.start();
  }

  kill(): Promise<void> {
    return this.child.stop('SIGKILL');
  }

  /** How its last start ended, in its own words. */
  lastWords(exit: ChildExit): { orderly: boolean; lastWords: string } {
    const lines = this.lastLines.filter((l) => l.trim());
    const orderly = lines.find((l) => ORDERLY_EXIT.test(l));
    if (orderly && exit.code === 1 && exit.signal === null) return { orderly: true, lastWords: orderly.slice(0, 300) };
    const pinoError = (line: string) => {
      try {
        const entry = JSON.parse(line) as { msg?: unknown; level?: unknown };
        return typeof entry.level === 'number' && entry.level >= 50 && typeof entry.msg === 'string'
          ? entry.msg
          : undefined;
      } catch {
        return undefined;
      }
    };
    const last = [...lines].reverse();
    const words =
      last.find((l) => EXCEPTION.test(l)) ?? last.map(pinoError).find((m) => m !== undefined) ?? last[0] ?? '';
    return { orderly: false, lastWords: words.trim().slice(0, 300) };
  }
}

/**
 * The worker processes of a chaos run. A worker that exits on its own is started again after a
 * short backoff, as Kubernetes would; each such exit is listed, blamed on the outage it happened
 * in (or shortly after), or on nothing: a crash, which fails the run.
 */
export class WorkerFleet {
  readonly workers: ChaosWorker[];
  readonly exits: WorkerExit[] = [];
  /** Workers alive but not polling after Temporal came back: hung, which fails the run. */
  readonly hangs: string[] = [];
  private closed = false;

  constructor(
    private readonly options: {
      count: number;
      env: Record<string, string>;
      databaseUrl: string;
      logsDir: string;
      connection: Connection;
      taskQueue: string;
      outages: OutageLog;
      log: (line: string) => void;
    },
  ) {
    this.workers = Array.from({ length: options.count }, (_, i) => {
      const name = `worker-${i + 1}`;
      return new ChaosWorker(
        name,
        path.join(options.logsDir, `${name}.log`),
        options.env,
        options.databaseUrl,
        (worker, exit) => this.exited(worker, exit),
      );
    });
  }

  /** Starts every worker that is down and waits until each polls its queues; returns those that did not in time. */
  async start(timeoutMs: number): Promise<string[]> {
    for (const worker of this.workers) worker.start();
    const ready = await Promise.all(this.workers.map((w) => this.ready(w, timeoutMs)));
    return this.workers.filter((_, i) => !ready[i]).map((w) => w.name);
  }

  /** True once this start of the worker polls its workflow queue and the Cloudflare queue (identity `<pid>@<host>`). */
  async ready(worker: ChaosWorker, timeoutMs: number): Promise<boolean> {
    const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
    const polledBy = async (name: string, type: temporal.api.enums.v1.TaskQueueType, pid: number) => {
      const { pollers } = await this.options.connection.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name },
        taskQueueType: type,
      });
      return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
    };
    const deadline = Date.now() + timeoutMs;
    while (worker.child.running() && Date.now() < deadline) {
      const pid = worker.child.pid;
      try {
        if (
          pid !== undefined &&
          (await polledBy(this.options.taskQueue, TASK_QUEUE_TYPE_WORKFLOW, pid)) &&
          (await polledBy(cloudflareTaskQueue(this.options.taskQueue), TASK_QUEUE_TYPE_ACTIVITY, pid))
        )
          return true;
      } catch {
        // Temporal is away: ask again.
      }
      await sleep(250);
    }
    return false;
  }

  /**
   * After Temporal comes back, every worker still running the same start must poll again: one
   * that neither polls nor exits within `withinMs` has hung (Temporal forgets its pollers when
   * it restarts, so a poll listed now is a new one).
   */
  async expectPolling(outage: Outage, withinMs: number): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        const pid = worker.child.pid;
        if (pid === undefined || !worker.child.running()) return;
        if (!(await this.ready(worker, withinMs)) && worker.child.running() && worker.child.pid === pid) {
          this.hangs.push(
            `${worker.name} (pid ${pid}) kept running without polling its task queues for ${withinMs / 1000} s after ${describeOutage(outage)}`,
          );
        }
      }),
    );
  }

  /** Kills `worker` at random, then starts it again, until `calm`. */
  async killAtRandom(
    worker: ChaosWorker,
    kills: KillOptions,
    random: ChaosRandom,
    pool: Pool,
    calm: () => boolean,
  ): Promise<void> {
    while (!calm() && worker.child.kills < kills.maxKills) {
      const mode = random.chance(kills.startupShare) ? 'startup' : random.chance(kills.aimedShare) ? 'aimed' : 'uptime';
      if (mode === 'startup') {
        await sleepUnless(random.between(300, 3_000), calm);
        if (calm()) break;
        await worker.kill();
        worker.figures.startupKills += 1;
      } else {
        await this.ready(worker, 120_000);
        await sleepUnless(random.between(kills.minUptimeMs, kills.maxUptimeMs), calm);
        if (calm()) break;
        if (mode === 'uptime') await worker.kill();
        else if (await killBetweenAnswerAndStaging(pool, worker, calm)) worker.figures.aimedKills += 1;
        else worker.figures.aimedMissed += 1;
      }
      await sleep(random.between(100, 2_000));
      worker.start();
    }
  }

  private exited(worker: ChaosWorker, exit: ChildExit): void {
    if (exit.expected) return;
    const outage = this.options.outages.explaining(exit.at);
    const record: WorkerExit = {
      worker: worker.name,
      at: exit.at,
      code: exit.code,
      signal: exit.signal,
      outage: outage ? describeOutage(outage) : null,
      ...worker.lastWords(exit),
    };
    this.exits.push(record);
    // Kubernetes' restart backoff, shortened: 1 s, 2 s, 4 s, then every 8 s; a start that lived 30 s resets it.
    if (exit.at - worker.startedAt > 30_000) worker.restartsInARow = 0;
    const delayMs = Math.min(8_000, 1_000 * 2 ** worker.restartsInARow);
    worker.restartsInARow += 1;
    this.options.log(
      `${worker.name} exited on its own (code ${exit.code}, signal ${exit.signal}) ${record.outage ? `during ${record.outage}` : 'WITH EVERY SERVER UP'}${record.orderly ? '' : ', NOT THE ORDERLY WAY'}: ${record.lastWords}; restarting in ${delayMs / 1000} s`,
    );
    setTimeout(() => {
      if (!this.closed) worker.start();
    }, delayMs).unref();
  }

  figures(): WorkerFigures[] {
    return this.workers.map((w) => ({
      name: w.name,
      starts: w.child.starts,
      kills: w.child.kills,
      ...w.figures,
      exitsInOutages: this.exits.filter((e) => e.worker === w.name && e.outage && e.orderly).length,
      crashes: this.exits.filter((e) => e.worker === w.name && !(e.outage && e.orderly)).length,
      logFile: w.logFile,
    }));
  }

  /** Exits with every server up, and exits in an outage not taken the orderly way, as violations. */
  crashes(): string[] {
    return this.exits
      .filter((e) => !(e.outage && e.orderly))
      .map(
        (e) =>
          `${e.worker} exited on its own at ${new Date(e.at).toISOString()} ${e.outage ? `in ${e.outage} without the orderly exit` : 'with every server up'} (code ${e.code}, signal ${e.signal}): ${e.lastWords}`,
      );
  }

  killNow(): void {
    for (const worker of this.workers) worker.child.killNow();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.child.close()));
  }
}
