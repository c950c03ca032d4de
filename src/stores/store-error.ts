/** `configure`: building the store from its target failed (bad config, missing credentials). */
export type StoreOperation = 'configure' | 'write' | 'readBack' | 'restore';

interface StoreErrorInit {
  store: string;
  operation: StoreOperation;
  reason: string;
  status?: number | undefined;
  retryable: boolean;
}

/**
 * The only error a store throws. It is built from scratch, with no `cause`: SDK errors carry the
 * request (Octokit keeps the body with the sealed value; the Kubernetes client keeps the response
 * body, which for a Secret is its data), so they never leave a store.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly store: string;
  readonly operation: StoreOperation;
  /** The message without the store and operation in front. */
  readonly reason: string;
  readonly status: number | undefined;
  readonly retryable: boolean;

  constructor(init: StoreErrorInit) {
    const status = init.status === undefined ? '' : ` (HTTP ${init.status})`;
    super(`${init.store}: ${init.operation} failed${status}: ${init.reason}`);
    this.store = init.store;
    this.operation = init.operation;
    this.reason = init.reason;
    this.status = init.status;
    this.retryable = init.retryable;
  }
}

export interface StoreErrorContext {
  store: string;
  operation: StoreOperation;
  /** Values that must not appear in the error, in any encoding we know of. */
  secrets: readonly string[];
}

export function toStoreError(error: unknown, context: StoreErrorContext): StoreError {
  if (error instanceof StoreError) return error;
  const status = httpStatusOf(error);
  return new StoreError({
    store: context.store,
    operation: context.operation,
    status,
    reason: redact(reasonOf(error), context.secrets),
    retryable: status === undefined || isRetryableStatus(status),
  });
}

/** Runs one store operation and turns whatever it throws into a safe StoreError. */
export async function guarded<T>(context: StoreErrorContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toStoreError(error, context);
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** The HTTP status an SDK error carries, if any. */
export function httpStatusOf(error: unknown): number | undefined {
  if (!isRecord(error)) return undefined;
  // Octokit and the Cloudflare SDK say `status`; the Kubernetes client's ApiException says `code`.
  for (const value of [error.status, error.code]) {
    if (typeof value === 'number' && value >= 100 && value < 600) return value;
  }
  return undefined;
}

/** A short description taken from the structured parts of known SDK errors, never their request. */
function reasonOf(error: unknown): string {
  if (!isRecord(error)) return 'unknown error';
  const kubernetesStatus = parseMaybeJson(error.body);
  if (typeof error.code === 'number' && isRecord(kubernetesStatus)) {
    const parts = [kubernetesStatus.reason, kubernetesStatus.message].filter((part) => typeof part === 'string');
    if (parts.length > 0) return oneLine(parts.join(': '));
  }
  const response = error.response;
  if (isRecord(response) && isRecord(response.data) && typeof response.data.message === 'string') {
    return oneLine(response.data.message);
  }
  if (Array.isArray(error.errors) && error.errors.length > 0) {
    return oneLine(
      error.errors
        .filter(isRecord)
        .map((item) => [item.code, item.message].filter((part) => part !== undefined).join(' '))
        .join('; '),
    );
  }
  if (typeof error.code === 'string') return error.code;
  const cause = error.cause;
  if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
  return typeof error.message === 'string' && error.message !== '' ? oneLine(error.message) : 'unknown error';
}

function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret === '') continue;
    const bytes = Buffer.from(secret, 'utf8');
    for (const form of [secret, bytes.toString('base64'), bytes.toString('base64url')]) {
      result = result.split(form).join('[redacted]');
    }
  }
  return result;
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function parseMaybeJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
