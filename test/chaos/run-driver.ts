import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { z } from 'zod';
import type { rotateServiceToken } from '../../src/workflows/rotation/rotate-service-token';
import { emergencyTaskQueue } from '../../src/workflows/triggers';
import type { EmergencyWindow, RunRecord } from './checks';
import { rideOutOutages, type OutageLog } from './outages';

/** What the API answers a rotate or revoke with (202). */
const startedSchema = z.object({ data: z.object({ workflow_id: z.string(), run_id: z.string() }) });
/** A rotate refused because a run of the token is going (409): which one. */
const conflictSchema = z.object({ error: z.object({ workflow_id: z.string(), run_id: z.string().nullable() }) });
/** The outcome a failed run carries in its failure details. */
const failureDetailsSchema = z.looseObject({
  compensated: z.array(z.string()).default([]),
  keptValid: z.array(z.string()).default([]),
  failedCompensations: z.array(z.looseObject({ name: z.string() })).default([]),
});

/** A 503 from the API: Temporal or Postgres was away. */
class UnavailableAnswer extends Error {
  constructor(readonly response: LightMyRequestResponse) {
    super(`answered 503: ${response.body.slice(0, 200)}`);
  }
}

/**
 * The chaos run's client of the API: starts rotations and revokes through it and follows every
 * run it started through Temporal to its end, at most one lane of runs per token. Through an
 * outage it does what a client does, asks again once the server is back; an answer that no
 * outage explains is an API error, reported as a violation.
 */
export class RunDriver {
  readonly runs: RunRecord[] = [];
  readonly windows: EmergencyWindow[] = [];
  /** Per token: settles when its last followed run has ended. */
  readonly lanes = new Map<string, Promise<void>>();
  readonly apiErrors: string[] = [];
  private readonly followed = new Map<string, Promise<RunRecord>>();

  constructor(
    private readonly deps: {
      app: FastifyInstance;
      auth: { authorization: string };
      client: Client;
      taskQueue: string;
      outages: OutageLog;
      /** The API's collection a token is rotated through: service tokens, or API tokens. */
      routeOf: (token: string) => 'service-tokens' | 'api-tokens';
    },
  ) {}

  /** A rotate or revoke through the API; the run it started (or signalled, for a revoke of an idle token), or nothing. */
  async request(
    token: string,
    action: 'rotate' | 'revoke',
    trigger: RunRecord['trigger'],
  ): Promise<RunRecord | undefined> {
    const at = Date.now();
    if (action === 'revoke') this.windows.push({ token, from: at, to: null, runId: null });
    let attempts = 0;
    let response: LightMyRequestResponse;
    try {
      response = await rideOutOutages(
        this.deps.outages,
        async () => {
          attempts += 1;
          const answer = await this.deps.app.inject({
            method: 'POST',
            url: `/${this.deps.routeOf(token)}/${encodeURIComponent(token)}/${action}`,
            headers: this.deps.auth,
            payload: { reason: action === 'revoke' ? 'chaos: credential reported leaked' : `chaos: ${trigger}` },
          });
          if (answer.statusCode === 503) throw new UnavailableAnswer(answer);
          return answer;
        },
        (error) => error instanceof UnavailableAnswer,
      );
    } catch (error) {
      if (!(error instanceof UnavailableAnswer)) throw error;
      response = error.response;
    }
    if (response.statusCode === 409) {
      // Only this driver starts runs of an idle token: after an attempt that got no answer, the
      // run in the way is that attempt's.
      const conflict = attempts > 1 ? conflictSchema.safeParse(response.json()).data?.error : undefined;
      if (!conflict?.run_id || this.followed.has(conflict.run_id)) return undefined;
      return this.track({
        token,
        workflowId: conflict.workflow_id,
        runId: conflict.run_id,
        trigger,
        startedAt: at,
        answerLost: true,
      });
    }
    if (response.statusCode !== 202) {
      this.apiErrors.push(
        `POST /${this.deps.routeOf(token)}/${token}/${action} answered ${response.statusCode}: ${response.body.slice(0, 200)}`,
      );
      return undefined;
    }
    const { workflow_id: workflowId, run_id: runId } = startedSchema.parse(response.json()).data;
    if (action === 'revoke') {
      const window = this.windows.find((w) => w.token === token && w.from === at);
      if (window) window.runId = runId;
      const signalled = this.runs.find((r) => r.runId === runId && r.outcome);
      if (signalled) this.closeWindows(signalled); // it ended before the answer came back
    }
    if (this.followed.has(runId)) return undefined; // a revoke that signalled a running rotation
    return this.track({ token, workflowId, runId, trigger, startedAt: at });
  }

  /**
   * Runs of the run's queues that no answer told of (an attempt whose answer an outage lost, and
   * whose retry found the run ended): followed like the others, so their outcome is checked too.
   */
  async followUnanswered(): Promise<number> {
    const queues = `(TaskQueue = '${this.deps.taskQueue}' OR TaskQueue = '${emergencyTaskQueue(this.deps.taskQueue)}')`;
    let found = 0;
    for await (const execution of this.deps.client.workflow.list({
      query: `${queues} AND WorkflowType IN ('rotateServiceToken', 'rotateApiToken')`,
    })) {
      if (this.followed.has(execution.runId)) continue;
      found += 1;
      const token =
        this.runs.find((r) => r.workflowId === execution.workflowId)?.token ??
        execution.workflowId.split('/').at(-1) ??
        '?';
      const trigger = execution.taskQueue === this.deps.taskQueue ? 'rotate' : 'revoke';
      this.track({
        token,
        workflowId: execution.workflowId,
        runId: execution.runId,
        trigger,
        startedAt: execution.startTime.getTime(),
        answerLost: true,
      });
    }
    return found;
  }

  private track(run: RunRecord): RunRecord {
    this.runs.push(run);
    const promise = this.outcome(run);
    this.followed.set(run.runId, promise);
    const lane = Promise.all([this.lanes.get(run.token), promise]).then(() => undefined);
    this.lanes.set(run.token, lane);
    void lane.then(() => {
      if (this.lanes.get(run.token) === lane) this.lanes.delete(run.token);
    });
    return run;
  }

  private async outcome(run: RunRecord): Promise<RunRecord> {
    const handle = this.deps.client.workflow.getHandle<typeof rotateServiceToken>(run.workflowId, run.runId);
    try {
      // Only the run's own failure is its outcome; losing sight of it in an outage is not.
      const result = await rideOutOutages(
        this.deps.outages,
        () => handle.result(),
        (error) => !(error instanceof WorkflowFailedError),
      );
      Object.assign(run, {
        outcome: 'completed',
        strategy: result.strategy,
        recoveredLostSecret: result.recoveredLostSecret,
        emergency: result.emergency,
      });
    } catch (error) {
      const cause = error instanceof WorkflowFailedError ? error.cause : error;
      const type = cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
      const details = failureDetailsSchema.safeParse(
        cause instanceof ApplicationFailure ? cause.details?.[0] : undefined,
      ).data;
      Object.assign(run, {
        outcome: type === 'RotationCompensated' ? 'compensated' : 'failed',
        failureType: type ?? (cause instanceof Error ? cause.name : 'unknown'),
        reason: cause instanceof Error ? cause.message : String(cause),
        compensated: details?.compensated ?? [],
        keptValid: details?.keptValid ?? [],
        failedCompensations: (details?.failedCompensations ?? []).map((c) => c.name),
      });
    }
    run.endedAt = Date.now();
    this.closeWindows(run);
    return run;
  }

  /** An emergency window closes when a run of its token completes after the revoke. */
  private closeWindows(run: RunRecord): void {
    for (const w of this.windows) {
      if (w.token !== run.token || w.to !== null) continue;
      if (w.runId === run.runId) {
        if (run.outcome === 'completed') w.to = run.endedAt ?? Date.now();
        else w.runId = null;
      } else if (w.runId === null && run.outcome === 'completed' && run.startedAt >= w.from) {
        w.to = run.endedAt ?? Date.now();
      }
    }
  }
}
