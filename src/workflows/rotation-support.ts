import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { FailureType } from '../activities/failure-types';

/** The type of an activity's (or the workflow's own) ApplicationFailure, if it has one. */
export function failureType(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** Whether `error` is (or was caused by) a failure of this type, from the one list in failure-types.ts. */
export function isFailure(error: unknown, type: FailureType): boolean {
  return failureType(error) === type;
}

/** What history rows and alerts say of a failure: its type and message, nothing else. */
export function failureSummary(error: unknown): Record<string, unknown> {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  return {
    type: failureType(error) ?? (cause instanceof Error ? cause.name : 'Error'),
    message: cause instanceof Error ? cause.message : String(cause),
  };
}

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Like Promise.all, but settles every promise before it rejects with the first failure. A store
 * activity left running behind an early rejection would land after whatever the workflow does
 * next: a write of the new credential after compensation restored the old one (and deleted the
 * token the write hands out).
 */
export async function allSettled<T>(work: Array<Promise<T>>): Promise<T[]> {
  const values: T[] = [];
  for (const result of await Promise.allSettled(work)) {
    if (result.status === 'rejected') throw result.reason;
    values.push(result.value);
  }
  return values;
}
