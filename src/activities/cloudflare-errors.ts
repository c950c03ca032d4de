import Cloudflare from 'cloudflare';
import { DatabaseError } from 'pg';
import { ApplicationFailure } from '@temporalio/activity';
import { permanentFailure, retryableFailure } from './failure-types';

/**
 * A Cloudflare failure reduced to what is safe to keep in history: status, Cloudflare's
 * error codes and messages. Request headers (the bearer token) and bodies never travel.
 */
export interface CloudflareFailureInfo {
  httpStatus?: number;
  codes: number[];
  message: string;
}

export function describeCloudflareError(error: unknown): CloudflareFailureInfo {
  if (error instanceof Cloudflare.APIConnectionError) return { codes: [], message: 'connection to Cloudflare failed' };
  if (error instanceof Cloudflare.APIError) {
    const errors = (error.errors ?? []) as Array<{ code?: number; message?: string }>;
    return {
      httpStatus: typeof error.status === 'number' ? error.status : undefined,
      codes: errors.map((e) => e.code).filter((c): c is number => typeof c === 'number'),
      message:
        errors
          .map((e) => e.message)
          .filter(Boolean)
          .join('; ') || `HTTP ${error.status}`,
    };
  }
  return { codes: [], message: error instanceof Error ? error.name : 'unknown error' };
}

/** 401/403/404 and other 4xx (but 408/409/429) will not get better by retrying. */
export function isPermanent(info: CloudflareFailureInfo): boolean {
  const status = info.httpStatus;
  return status !== undefined && status >= 400 && status < 500 && ![408, 409, 429].includes(status);
}

/**
 * Rethrows as an activity failure that carries no request data; permanent ones are not retried.
 * A failure already typed (bad token data in the answer) keeps its type.
 */
export function toActivityFailure(error: unknown, what: string): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  // Not Cloudflare's doing: a Postgres statement on the way (the policy lock, the budget) failed.
  if (error instanceof DatabaseError)
    return retryableFailure('DatabaseUnavailable', `${what}: Postgres ${error.code ?? ''} ${error.message}`.trim());
  const info = describeCloudflareError(error);
  const message = `${what}: ${info.httpStatus ? `HTTP ${info.httpStatus} ` : ''}${info.message}`;
  return (isPermanent(info) ? permanentFailure : retryableFailure)(
    isPermanent(info) ? 'CloudflareRejected' : 'CloudflareUnavailable',
    message,
    [info],
  );
}
