import { createApiTokenVerificationActivities, type ApiTokenVerificationDeps } from './api-token-verification';
import { createHistoryActivities } from './history';
import type { HistoryRepository } from '../db/history-repository';

export interface ActivityDeps extends ApiTokenVerificationDeps {
  history: Pick<HistoryRepository, 'recordAudit' | 'recordApiTokenCheck'>;
}

/** Activities that call Cloudflare; they run on the rate-limited Cloudflare task queue. */
export function createCloudflareActivities(deps: ActivityDeps) {
  return {
    ...createApiTokenVerificationActivities(deps),
  };
}

/** Everything else: Postgres writes and other light work on the main task queue. */
export function createLocalActivities(deps: ActivityDeps) {
  return {
    ...createHistoryActivities(deps.history),
  };
}

export type CloudflareActivities = ReturnType<typeof createCloudflareActivities>;
export type LocalActivities = ReturnType<typeof createLocalActivities>;
