import type { HistoryRepository } from '../db/history-repository';

/** Thin adapters over the history repository; the workflow decides what to record when. */
export function createHistoryActivities(repository: Pick<HistoryRepository, 'recordAudit' | 'recordApiTokenCheck'>) {
  return {
    recordAudit: repository.recordAudit,
    recordApiTokenCheck: repository.recordApiTokenCheck,
  };
}
