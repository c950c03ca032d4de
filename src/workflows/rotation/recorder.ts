import { CancellationScope, isCancellation, log } from '@temporalio/workflow';
import type { LocalActivities } from '../../activities';
import type { HistoryWriteResult } from '../../activities/history-writes';
import type { NotifyChannel, RotationAlert } from '../../activities/notify';
import type { RotationRow } from '../../activities/rotation-rows';
import type { RotationProgress, RotationStep } from './messages';
import { failureSummary } from '../failures';
import { RowBatches, type PendingRow, type WithRowResults } from './row-batches';
import { iso } from './support';

/** A history or audit row the run could not store as it was. */
export interface HistoryProblem {
  write: string;
  stored: 'sanitized' | 'not stored';
  type?: string;
  message?: string;
}

type Records = Pick<
  LocalActivities,
  'recordAudit' | 'recordRotationStart' | 'recordRotationStep' | 'finishRotationRecord' | 'recordRotationRows'
>;
type Notifications = Pick<LocalActivities, 'notifyRotation'>;

export interface RecorderContext {
  token: { accountId: string; tokenName: string };
  workflowId: string;
  runId: string;
  progress: RotationProgress;
  records: Records;
  /** The first batch and the last: local activities, inside the workflow task that records them. */
  localRecords?: Pick<LocalActivities, 'recordRotationRows'>;
  notifications: Notifications;
}

/**
 * A run's bookkeeping: the progress the query shows, its history rows (run, steps, outcome),
 * its audit rows and its alerts.
 *
 * `beside` (runs started since the `rotation-history-beside-the-work` patch): the work never
 * waits for a row. Rows are written in the order they were recorded, one after the other, by a
 * queue that runs beside the work; while Postgres is down the queue waits (each write is retried
 * until it lands) and the work goes on, so an emergency revoke is never held behind a row. The
 * run ends only once the queue has caught up (DESIGN §5.5). Alerts go out beside the work too,
 * Postgres or not. Rows and alerts are never cancelled with the run, so a cancelled run still
 * says what it left behind.
 *
 * `batched` (since `rotation-fewer-round-trips`, always beside): rows go in batches (row-batches.ts).
 *
 * Otherwise (runs recorded before), every row and alert is awaited where it was recorded, as
 * that code did, so their histories replay.
 *
 * Either way a row Postgres refuses for its data (`HistoryDataRejected`) or could only store
 * cleaned is not waited for: it is noted in the run's outcome (`historyProblems`) and alerted.
 */
export class RotationRecorder {
  readonly problems: HistoryProblem[] = [];
  private seq = 0;
  private queue: Promise<void>;
  private release: () => void = () => undefined;
  private readonly beside: Array<Promise<void>> = [];
  private channels: NotifyChannel[] | null = null;
  private readonly held: Array<Parameters<RotationRecorder['alert']>> = [];
  /** Rows in batches (`batched`). */
  private readonly batches: RowBatches | undefined;

  constructor(
    private readonly context: RecorderContext,
    readonly besideTheWork: boolean,
    batched = false,
    rideAlong = false,
  ) {
    this.queue = besideTheWork ? new Promise<void>((resolve) => (this.release = resolve)) : Promise.resolve();
    if (batched)
      this.batches = new RowBatches({
        records: context.records,
        localRecords: context.localRecords,
        rideAlong,
        enqueue: (write) => (this.queue = this.queue.then(write)),
        problem: (problem) => this.problem(problem),
      });
  }

  get progress(): RotationProgress {
    return this.context.progress;
  }

  /** Rows recorded so far start to be written (beside the work): after an emergency's first call. */
  open(): void {
    this.release();
  }

  /** Where alerts go, known once the run has its plan; alerts raised before wait for it. */
  alertTo(channels: NotifyChannel[]): void {
    this.channels = channels;
    for (const alert of this.held.splice(0)) this.track(this.alert(...alert));
  }

  nextSeq(): number {
    return ++this.seq;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Runs one step of the rotation and records it, ok or failed. */
  async step<T>(
    name: string,
    run: () => Promise<T>,
    describe: (result: T) => Record<string, unknown> = () => ({}),
  ): Promise<T> {
    this.progress.phase = name;
    const startedAt = iso(Date.now());
    const own = this.nextSeq();
    try {
      const result = await run();
      await this.recordStep(own, name, 'ok', startedAt, describe(result));
      return result;
    } catch (error) {
      await this.recordStep(own, name, 'failed', startedAt, failureSummary(error));
      throw error;
    }
  }

  async recordStep(
    seq: number,
    step: string,
    outcome: RotationStep['outcome'],
    startedAt: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    this.progress.steps.push({ seq, step, outcome, startedAt, finishedAt: iso(Date.now()), details });
    const row = { runId: this.context.runId, seq, step, outcome, startedAt, details };
    await this.write(
      `step ${step}`,
      () => this.context.records.recordRotationStep(row),
      () => ({ kind: 'step', row }),
    );
  }

  audit(what: string, event: Parameters<Records['recordAudit']>[0]): Promise<void> {
    return this.write(
      what,
      () => this.context.records.recordAudit(event),
      () => ({ kind: 'audit', row: event }),
    );
  }

  start(row: Parameters<Records['recordRotationStart']>[0]): Promise<void> {
    return this.write(
      'run',
      () => this.context.records.recordRotationStart(row),
      () => ({ kind: 'run', row }),
    );
  }

  /** The run's outcome row; it names every row that could not be stored as it was. */
  finish(
    status: Parameters<Records['finishRotationRecord']>[0]['status'],
    outcome: Record<string, unknown>,
  ): Promise<void> {
    const entry = this.outcomeRow(status, outcome);
    return this.write(
      'outcome',
      () => {
        const { row } = entry.row() as Extract<RotationRow, { kind: 'outcome' }>;
        return this.context.records.finishRotationRecord(row);
      },
      entry.row,
    );
  }

  /** Tells every configured channel; best effort, a failed channel is logged. */
  async alert(severity: RotationAlert['severity'], event: RotationAlert['event'], message: string): Promise<void> {
    const channels = this.channels;
    if (channels === null) {
      this.held.push([severity, event, message]);
      return;
    }
    const send = async () => {
      const payload: RotationAlert = {
        severity,
        event,
        message,
        ...this.context.token,
        workflowId: this.context.workflowId,
        runId: this.context.runId,
      };
      const sent = await Promise.allSettled(
        channels.map((channel) => this.context.notifications.notifyRotation({ channel, alert: payload })),
      );
      sent.forEach((result, i) => {
        if (result.status === 'rejected') log.warn('rotation alert not delivered', { channel: channels[i], event });
      });
    };
    if (!this.besideTheWork) return send();
    this.track(CancellationScope.nonCancellable(send));
  }

  /** Held rows start to be written (`batched`), after the batch under way: where the run waits anyway. */
  writeHeld(local = false): void {
    this.batches?.writeHeld(local);
  }

  /** `call` takes the rows recorded so far along, and `also` if it succeeds (row-batches.ts: `rideAlong` runs only). */
  along<T extends object>(call: (rows?: RotationRow[]) => Promise<WithRowResults<T>>, also: PendingRow[] = []) {
    if (!this.batches) throw new Error('rows ride along only in runs that write them in batches');
    return this.batches.along(call, also);
  }

  /** Waits until every row and alert recorded so far (and any they led to) is done. */
  async flush(): Promise<void> {
    this.open();
    for (;;) {
      this.writeHeld(true);
      const queue = this.queue;
      const alerts = this.beside.length;
      await queue;
      await Promise.all(this.beside);
      if (queue === this.queue && alerts === this.beside.length) return;
    }
  }

  private track(work: Promise<void>): void {
    this.beside.push(work);
  }

  private write(what: string, run: () => Promise<HistoryWriteResult | void>, row: () => RotationRow): Promise<void> {
    if (!this.besideTheWork) return this.attempt(what, run);
    if (this.batches) {
      this.batches.add({ what, row });
      return Promise.resolve();
    }
    this.queue = this.queue.then(() => this.attempt(what, () => CancellationScope.nonCancellable(run)));
    return Promise.resolve();
  }

  /** A step's row as it stands if the step succeeds (for `along`'s `also`); `done` shows it in the progress. */
  okStep(seq: number, step: string, startedAt: string, details: Record<string, unknown>) {
    const row = { runId: this.context.runId, seq, step, outcome: 'ok' as const, startedAt, details };
    const done = () =>
      void this.progress.steps.push({ seq, step, outcome: 'ok', startedAt, finishedAt: iso(Date.now()), details });
    return { seq, what: `step ${step}`, row: (): RotationRow => ({ kind: 'step', row }), done };
  }

  /** The outcome row, built when written: it names the problems of every row written before it. */
  outcomeRow(status: Parameters<Records['finishRotationRecord']>[0]['status'], outcome: Record<string, unknown>) {
    return {
      what: 'outcome',
      row: (): RotationRow => ({
        kind: 'outcome',
        row: {
          runId: this.context.runId,
          status,
          outcome: this.problems.length ? { ...outcome, historyProblems: [...this.problems] } : outcome,
        },
      }),
    };
  }

  private async attempt(what: string, run: () => Promise<HistoryWriteResult | void>): Promise<void> {
    let result: HistoryWriteResult | void;
    try {
      result = await run();
    } catch (error) {
      if (isCancellation(error)) throw error;
      const summary = failureSummary(error);
      await this.problem({
        write: what,
        stored: 'not stored',
        type: String(summary.type),
        message: String(summary.message),
      });
      return;
    }
    if (result?.stored === 'sanitized')
      await this.problem({ write: what, stored: 'sanitized', message: result.problem });
  }

  private async problem(problem: HistoryProblem): Promise<void> {
    this.problems.push(problem);
    const notStored = problem.stored === 'not stored';
    log.error(
      notStored
        ? 'history row not stored: Postgres refused it'
        : 'history row stored with unstorable characters replaced',
      { write: problem.write, type: problem.type, message: problem.message },
    );
    const message = notStored
      ? `the ${problem.write} row of this rotation could not be stored (${problem.type}: ${problem.message}); the rotation goes on without it`
      : `the ${problem.write} row of this rotation was stored with characters Postgres cannot store replaced (${problem.message})`;
    await this.alert(
      notStored ? 'critical' : 'warning',
      notStored ? 'history-write-rejected' : 'history-write-sanitized',
      message,
    );
  }
}
