import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';
import type { FailureType } from '../activities/failure-types';

/** What history rows, alerts and logs say of a failure: its type and message, nothing else. */
export interface FailureSummary {
  type: string;
  message: string;
  [detail: string]: unknown;
}

/** The failure an activity or child run failed with, rather than Temporal's wrapper around it. */
function unwrap(error: unknown): unknown {
  return (error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) && error.cause
    ? error.cause
    : error;
}

/** The type of an activity's (or a workflow's own) ApplicationFailure, if it has one. */
export function failureType(error: unknown): string | undefined {
  const cause = unwrap(error);
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/** Whether `error` is (or was caused by) a failure of this type, from the one list in failure-types.ts. */
export function isFailure(error: unknown, type: FailureType): boolean {
  return failureType(error) === type;
}

export function failureSummary(error: unknown): FailureSummary {
  const cause = unwrap(error);
  return {
    type: failureType(error) ?? (cause instanceof Error ? cause.name : 'Error'),
    message: cause instanceof Error ? cause.message : String(cause),
  };
}

export const failureMessage = (error: unknown): string => failureSummary(error).message;

/** A failure type a workflow itself ends with, checked against the one list. */
export const endsWith = (
  type: FailureType & ('RotationCompensated' | 'RotationFailed' | 'EmergencyRevokeIncomplete'),
) => type;
