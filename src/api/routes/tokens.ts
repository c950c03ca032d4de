import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HistoryRepository } from '../../db/history-repository';
import { historyDataSchema, historyEntry } from '../../health/history-wire';
import {
  recordedStatusSource,
  statusAnswerSchema,
  statusData,
  type StatusAnswer,
  type StatusSource,
} from '../../health/status-wire';
import { healMessage, healthData, healthDataSchema } from '../../health/wire';
import { authErrors, backendErrors, bodyErrors, HttpError, inputErrors } from '../errors';
import { encodeCursor } from '../cursor';
import { before, flag, limit, queryInteger } from '../inputs';
import { tokenHealthRuns } from '../token-health-runs';

/** `/tokens/status` answers from a recorded check younger than this (DESIGN §5.7). */
export const DEFAULT_STATUS_MAX_AGE_MS = 15 * 60_000;
/** How long a status request waits for the check it started or joined before answering from the older record. */
export const DEFAULT_STATUS_REFRESH_WAIT_MS = 10_000;

export interface TokenRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  history: Pick<HistoryRepository, 'listApiTokenChecks' | 'listHealthHistory'>;
  /** A recorded check older than this makes `/tokens/status` start one (default 15 minutes). */
  statusMaxAgeMs?: number;
  /** How long `/tokens/status` waits for that check before answering from the older record (default 10 s). */
  statusRefreshWaitMs?: number;
}

const errors = { ...inputErrors, ...authErrors, ...backendErrors };
const historyPageSchema = historyDataSchema.extend({
  next_before: z
    .string()
    .nullable()
    .meta({ description: 'Pass as `before=` for the next (older) page; null on the last page.' }),
});
/** A week: a client may accept a record that old, never ask for one younger than the server's bound. */
const MAX_ACCEPTED_AGE_SECONDS = 7 * 86_400;

/**
 * The seed's Token Manager endpoints. Every check is a checkTokenHealth run on Temporal (its
 * workflow id is in the answer and the UI), and the answer is built from that run's result;
 * `/tokens/status` answers from the latest recorded run and starts one only when that is too old.
 */
export const tokenRoutes: FastifyPluginAsyncZod<TokenRouteDeps> = async (app, deps) => {
  const statusMaxAgeMs = deps.statusMaxAgeMs ?? DEFAULT_STATUS_MAX_AGE_MS;
  const refreshWaitMs = deps.statusRefreshWaitMs ?? DEFAULT_STATUS_REFRESH_WAIT_MS;
  const { run, refreshStatus } = tokenHealthRuns({
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    statusMaxAgeMs,
    refreshWaitMs,
    log: app.log,
  });
  const actorOf = (request: { client: { name: string } | null }) => `api:${request.client?.name ?? 'unknown'}`;

  /** The latest recorded health check the status can answer from; a Postgres failure is a 503, not a 500. */
  async function latestRecorded(): Promise<StatusSource | null> {
    let rows;
    try {
      rows = await deps.history.listApiTokenChecks(1, 'health');
    } catch (error) {
      app.log.warn({ err: error }, 'token status: reading the latest health check failed');
      throw new HttpError(503, 'history_unavailable', 'the recorded token health could not be read; try again shortly');
    }
    const row = rows[0];
    return row ? recordedStatusSource(row.results) : null;
  }

  app.get(
    '/tokens/health',
    {
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary: 'Check every API token (a checkTokenHealth run); ?auto_heal=true also adds missing permissions',
        querystring: z.object({ auto_heal: flag }),
        response: { 200: z.object({ success: z.literal(true), data: healthDataSchema }), ...errors },
      },
    },
    async (request) => {
      if (request.query.auto_heal === 'true') request.requireScope('heal');
      const report = await run(actorOf(request), { autoHeal: request.query.auto_heal === 'true' });
      return { success: true as const, data: healthData(report) };
    },
  );

  app.post(
    '/tokens/heal',
    {
      // A dry run changes nothing: checking is enough.
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary: 'Add missing permissions to every valid, active API token (add-only); ?dry_run=true changes nothing',
        querystring: z.object({ dry_run: flag }),
        // No body is read, but a POST's body is parsed (and refused) like any other.
        response: {
          200: z.object({ success: z.literal(true), message: z.string(), data: healthDataSchema }),
          ...errors,
          ...bodyErrors,
        },
      },
    },
    async (request) => {
      if (request.query.dry_run !== 'true') request.requireScope('heal');
      const report = await run(actorOf(request), { autoHeal: true, dryRun: request.query.dry_run === 'true' });
      return { success: true as const, message: healMessage(report), data: healthData(report) };
    },
  );

  app.get(
    '/tokens/status',
    {
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary:
          'Quick status of the API tokens from the latest recorded check; a check (no heal) runs only when that is older than the server bound',
        description:
          'Answers from the latest recorded health check with its age. When it is older than the server bound (default 15 minutes), or none exists, one check is started (concurrent requests share it) and the answer waits a few seconds for it; otherwise the older record answers with `stale: true`. `max_age_seconds` accepts an older record (it never lowers the server bound).',
        querystring: z.object({ max_age_seconds: queryInteger(0, MAX_ACCEPTED_AGE_SECONDS).optional() }),
        response: { 200: z.object({ success: z.literal(true), data: statusAnswerSchema }), ...errors },
      },
    },
    async (request, reply) => {
      const maxAgeMs = Math.max(statusMaxAgeMs, (request.query.max_age_seconds ?? 0) * 1000);
      // The check's own timestamp (workflow time), so the age is that of what Cloudflare said.
      const ageMsOf = (source: StatusSource) => Math.max(0, Date.now() - Date.parse(source.timestamp));
      const answer = (
        source: StatusSource,
        refreshStarted: boolean,
        refresh: StatusAnswer['refresh'],
      ): { success: true; data: StatusAnswer } => {
        const ageMs = ageMsOf(source);
        return {
          success: true,
          data: {
            ...statusData(source),
            checked_at: source.timestamp,
            age_seconds: Math.floor(ageMs / 1000),
            max_age_seconds: Math.floor(maxAgeMs / 1000),
            stale: ageMs > maxAgeMs,
            workflow_id: source.workflowId,
            run_id: source.runId,
            refresh_started: refreshStarted,
            refresh,
          },
        };
      };

      const recorded = await latestRecorded();
      if (recorded && ageMsOf(recorded) <= maxAgeMs) return answer(recorded, false, null);

      const refresh = await refreshStatus(actorOf(request), recorded?.runId ?? null);
      const about = { workflow_id: refresh.workflowId, state: refresh.state };
      if (refresh.state === 'completed') return answer(refresh.report, refresh.started, about);
      if (recorded) return answer(recorded, refresh.started, about);
      // Nothing recorded yet and the first check has not finished: there is no state to answer from.
      reply.header('retry-after', String(Math.max(1, Math.ceil(refreshWaitMs / 1000))));
      throw new HttpError(
        503,
        refresh.state === 'running' ? 'health_check_pending' : 'health_check_unavailable',
        `no token health check is recorded yet; check ${refresh.workflowId} ${refresh.reason}; see it in the Temporal UI`,
      );
    },
  );

  app.get(
    '/tokens/history',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['tokens'],
        summary: 'Recorded token health runs, newest first',
        description:
          "The seed's history entries; `before=` (the previous page's `next_before`) pages back through long histories.",
        querystring: z.object({ limit: limit(100, 10), before: before('token-health').optional() }),
        response: { 200: z.object({ success: z.literal(true), data: historyPageSchema }), ...errors },
      },
    },
    async (request) => {
      const page = await deps.history.listHealthHistory({ limit: request.query.limit, before: request.query.before });
      const history = page.rows.map((row) => historyEntry({ ...row, results: row.summary }));
      return {
        success: true as const,
        data: { history, count: history.length, next_before: page.next && encodeCursor('token-health', page.next) },
      };
    },
  );
};
