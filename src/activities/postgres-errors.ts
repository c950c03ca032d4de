import { DatabaseError } from 'pg';

/**
 * Postgres refused the statement for what it carries, not for how it is doing: SQLSTATE class 22
 * (data exception: a NUL byte in text, an unpaired surrogate in JSON, a malformed uuid) or 23
 * (integrity constraint). Sending the same values again can only fail the same way. Anything
 * else (refused connections, a restart, a timeout) may pass and is retried.
 */
export function isDataError(error: unknown): error is DatabaseError {
  return error instanceof DatabaseError && typeof error.code === 'string' && /^2[23]/.test(error.code);
}

/** SQLSTATE and Postgres's message: never the statement's parameters. */
export function describeDataError(error: DatabaseError): string {
  return `${error.code}: ${error.message}`;
}
