/**
 * Cloudflare-style API errors. Route handlers and state modules throw these; the app's
 * error handler turns them into the v4 failure envelope with the right status.
 */
export interface CfMessage {
  code: number;
  message: string;
  error_chain?: CfMessage[];
}

/** Error codes the simulator answers with. The auth, routing and rate-limit codes are the
 * ones the real API sends; the rest are stable simulator choices documented in README.md. */
export const CODE = {
  invalidApiToken: 1000, // verify endpoints: unknown, expired, disabled or wrong-kind token
  missingAuthorization: 1001, // verify endpoints without an Authorization header
  invalidRequest: 1002, // body/query failed validation
  notFound: 1003,
  conflict: 1004,
  quotaExceeded: 1005,
  invalidRequestHeaders: 6003,
  malformedJson: 6007,
  invalidAuthorizationFormat: 6111,
  routeNotFound: 7003,
  methodNotAllowed: 7000,
  rateLimited: 1015, // the contract's Message schema needs codes >= 1000
  missingAuthHeaders: 9106,
  unknownAuthKey: 9103,
  invalidAccessToken: 9109,
  authenticationError: 10000,
  internal: 10001,
  workerNotFound: 10007,
  accessInvalid: 12130,
  accessNotFound: 12131,
} as const;

export class CloudflareApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: readonly CfMessage[],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join('; '));
    this.name = 'CloudflareApiError';
  }

  static of(status: number, code: number, message: string, headers?: Record<string, string>): CloudflareApiError {
    return new CloudflareApiError(status, [{ code, message }], headers);
  }
}

export const notFound = (what: string, code: number = CODE.notFound): CloudflareApiError =>
  CloudflareApiError.of(404, code, `${what} not found`);

export const badRequest = (message: string, code: number = CODE.invalidRequest): CloudflareApiError =>
  CloudflareApiError.of(400, code, message);

export const conflict = (message: string): CloudflareApiError => CloudflareApiError.of(409, CODE.conflict, message);
