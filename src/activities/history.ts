import type { HistoryRepository } from '../db/history-repository';
import { writeHistory } from './history-writes';

/** Thin adapters over the history repository; the workflow decides what to record when. */
export function createHistoryActivities(repository: Pick<HistoryRepository, 'recordAudit' | 'recordApiTokenCheck'>) {
  return {
    recordAudit: (event: Parameters<HistoryRepository['recordAudit']>[0]) =>
      writeHistory('audit row', event, repository.recordAudit),
    recordApiTokenCheck: (check: Parameters<HistoryRepository['recordApiTokenCheck']>[0]) =>
      writeHistory('API token check row', check, repository.recordApiTokenCheck),
  };
}
