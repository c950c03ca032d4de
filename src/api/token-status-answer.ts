import { z } from 'zod';
import {
  statusData,
  statusDataSchema,
  type StatusAnswer,
  type StatusData,
  type StatusSource,
} from '../health/status-wire';

/** A recorded health check made ready to answer from: its seed fields built and serialized once. */
export interface RecordedStatus {
  source: StatusSource;
  /** The check's own timestamp (workflow time), so the age is that of what Cloudflare said. */
  checkedAtMs: number;
  data: StatusData;
  /** `data` as the response schema encodes it: the answer's leading fields, ready to send. */
  dataJson: string;
}

export function recordedStatus(source: StatusSource): RecordedStatus {
  const data = statusData(source);
  return {
    source,
    checkedAtMs: Date.parse(source.timestamp),
    data,
    dataJson: JSON.stringify(z.encode(statusDataSchema, data)),
  };
}

export type StatusReply = { success: true; data: StatusAnswer };

/** Its age when answered: computed at answer time, never when the record was read. */
export const ageMsOf = (recorded: RecordedStatus, now = Date.now()): number => Math.max(0, now - recorded.checkedAtMs);

export function statusReply(
  recorded: RecordedStatus,
  answer: { maxAgeMs: number; refreshStarted: boolean; refresh: StatusAnswer['refresh'] },
  now = Date.now(),
): StatusReply {
  const ageMs = ageMsOf(recorded, now);
  return {
    success: true,
    data: {
      ...recorded.data,
      checked_at: recorded.source.timestamp,
      age_seconds: Math.floor(ageMs / 1000),
      max_age_seconds: Math.floor(answer.maxAgeMs / 1000),
      stale: ageMs > answer.maxAgeMs,
      workflow_id: recorded.source.workflowId,
      run_id: recorded.source.runId,
      refresh_started: answer.refreshStarted,
      refresh: answer.refresh,
    },
  };
}

/**
 * What the route's zod serializer writes for `reply` (the same keys in the same order: the
 * seed's fields, then the rest as statusAnswerSchema extends them), with the recorded fields
 * spliced in as encoded once instead of encoded again on every request.
 */
export function statusReplyJson(recorded: RecordedStatus, reply: StatusReply): string {
  const { data } = reply;
  const rest = JSON.stringify({
    checked_at: data.checked_at,
    age_seconds: data.age_seconds,
    max_age_seconds: data.max_age_seconds,
    stale: data.stale,
    workflow_id: data.workflow_id,
    run_id: data.run_id,
    refresh_started: data.refresh_started,
    refresh: data.refresh,
  });
  return `{"success":true,"data":${recorded.dataJson.slice(0, -1)},${rest.slice(1)}}`;
}
