import {
  isGrpcServiceError,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  ServiceError,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Logger } from 'pino';
import { TokenKind, TriggeredBy } from './temporal/search-attributes';
import type { Trigger } from './workflows/triggers';

export interface ScheduleDefinition {
  id: string;
  cron: string;
  workflowType: string;
  /** Every scheduled run knows it was the schedule that asked. */
  args: (trigger: Trigger) => unknown[];
  note: string;
  tokenKind: string;
}

/** Every Temporal Schedule token-warden owns; start-up creates or updates exactly these. */
export const SCHEDULES: readonly ScheduleDefinition[] = [
  // The seed's two token-manager crons. The daily run only checks (and notifies): at 00:00 both
  // fire, and one heal at a time keeps two full-replace updates of a token from racing.
  {
    id: 'token-warden/check-token-health',
    cron: '0 */6 * * *',
    workflowType: 'checkTokenHealth',
    args: (trigger) => [{ trigger, autoHeal: true, cron: '0 */6 * * *' }],
    note: 'Check every Cloudflare API token and add missing permissions, every 6 hours',
    tokenKind: 'api-token',
  },
  {
    id: 'token-warden/check-token-health-daily',
    cron: '0 0 * * *',
    workflowType: 'checkTokenHealth',
    args: (trigger) => [{ trigger, autoHeal: false, cron: '0 0 * * *' }],
    note: 'Daily check of every Cloudflare API token (expiry warnings, notifications)',
    tokenKind: 'api-token',
  },
  // The seed's monthly CronJob, done durably: every managed service token, in batches.
  {
    id: 'token-warden/rotate-service-tokens',
    cron: '0 2 1 * *',
    workflowType: 'rotateAllServiceTokens',
    args: (trigger) => [{ trigger }],
    note: 'Monthly rotation of every managed Access service token',
    tokenKind: 'service-token',
  },
  {
    id: 'token-warden/sweep-expiry',
    cron: '30 1 * * *',
    workflowType: 'sweepExpiry',
    args: (trigger) => [{ trigger }],
    note: 'Daily: rotate or refresh every service token inside its renewBefore window',
    tokenKind: 'service-token',
  },
  // Reads only, at an hour none of the others use: unmanaged, never-expiring and unused credentials.
  {
    id: 'token-warden/discover-credentials',
    cron: '45 3 * * *',
    workflowType: 'discoverCredentials',
    args: (trigger) => [{ trigger }],
    note: 'Daily: list every Access service token and API token in the accounts, managed or not',
    tokenKind: 'credentials',
  },
];

/** Schedules earlier versions created; start-up deletes them (checkTokenHealth verifies every token). */
const RETIRED_SCHEDULE_IDS: readonly string[] = ['token-warden/verify-api-tokens'];

const UPSERT_ATTEMPTS = 20;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_FAILED_PRECONDITION = 9;
const GRPC_UNAVAILABLE = 14;

async function upsertSchedule(client: Client, options: ScheduleOptions, note: string): Promise<'created' | 'updated'> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.schedule.create(options);
      return 'created';
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) {
        if (!busy(error) || attempt >= UPSERT_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
        continue; // a create that did land is found by the next one (already running)
      }
    }
    try {
      await client.schedule.getHandle(options.scheduleId).update((previous) => ({
        ...previous,
        spec: options.spec,
        action: options.action,
        policies: { ...previous.policies, ...options.policies },
        // A pause set by an operator in the Temporal UI survives restarts.
        state: { ...previous.state, note: previous.state.paused ? previous.state.note : note },
      }));
      return 'updated';
    } catch (error) {
      if (!(deletedMeanwhile(error) || busy(error)) || attempt >= UPSERT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

const grpcCode = (error: unknown): number | undefined => {
  const cause = error instanceof ServiceError ? error.cause : undefined;
  return isGrpcServiceError(cause) ? cause.code : undefined;
};

/** A server too busy to answer in time, or away for a moment: asking again is safe (upserts are idempotent). */
function busy(error: unknown): boolean {
  const code = grpcCode(error);
  return code === GRPC_DEADLINE_EXCEEDED || code === GRPC_UNAVAILABLE;
}

/** Deleted between create and update: gone, or its workflow closing while the deletion completes. */
function deletedMeanwhile(error: unknown): boolean {
  return error instanceof ScheduleNotFoundError || grpcCode(error) === GRPC_FAILED_PRECONDITION;
}

function scheduleOptions(definition: ScheduleDefinition, taskQueue: string): ScheduleOptions {
  const actor = `schedule:${definition.id}`;
  return {
    scheduleId: definition.id,
    spec: { cronExpressions: [definition.cron] },
    action: {
      type: 'startWorkflow',
      workflowType: definition.workflowType,
      taskQueue,
      args: definition.args({ actor }),
      workflowId: `${definition.id}/scheduled`,
      typedSearchAttributes: [
        { key: TriggeredBy, value: actor },
        { key: TokenKind, value: definition.tokenKind },
      ],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour', pauseOnFailure: false },
    state: { note: definition.note },
  };
}

/**
 * Idempotent: a second start updates the same schedules, never duplicates them. Replicas start
 * together and an operator may delete a schedule meanwhile: an update that finds it gone
 * creates it again rather than failing the start.
 */
export async function upsertSchedules(
  client: Client,
  taskQueue: string,
  logger?: Pick<Logger, 'info'>,
  definitions = SCHEDULES,
): Promise<string[]> {
  for (const definition of definitions) {
    const outcome = await upsertSchedule(client, scheduleOptions(definition, taskQueue), definition.note);
    logger?.info({ schedule: definition.id, cron: definition.cron }, `schedule ${outcome}`);
  }
  for (const id of RETIRED_SCHEDULE_IDS.filter((retired) => !definitions.some((d) => d.id === retired))) {
    await client.schedule
      .getHandle(id)
      .delete()
      .then(
        () => logger?.info({ schedule: id }, 'retired schedule deleted'),
        (error: unknown) => {
          if (!(error instanceof ScheduleNotFoundError)) throw error;
        },
      );
  }
  return definitions.map((d) => d.id);
}
