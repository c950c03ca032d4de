import pino, { type Logger } from 'pino';

/** Paths a secret could travel under; pino replaces them before anything is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["cf-access-client-secret"]',
  '*.authorization',
  '*.clientSecret',
  '*.client_secret',
  '*.secret',
  '*.value',
  '*.token',
  '*.apiToken',
];

export function createLogger(level: string, name = 'token-warden'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
