import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

const SECRET_KEYS = ['authorization', 'clientSecret', 'client_secret', 'secret', 'value', 'token', 'apiToken'];

/** Paths a secret could travel under, at the top of a log call's object or one level down; pino replaces them before anything is written. */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  'req.headers.authorization',
  'req.headers["cf-access-client-secret"]',
];

export type LogFormat = 'pretty' | 'json';

/** LOG_FORMAT, or lines for people on a terminal and JSON for log collectors. */
export function defaultLogFormat(env: Readonly<Record<string, string | undefined>> = process.env): LogFormat {
  if (env.LOG_FORMAT === 'pretty' || env.LOG_FORMAT === 'json') return env.LOG_FORMAT;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: string, name = 'token-warden', format: LogFormat = defaultLogFormat()): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (format === 'json') return pino(options);
  // Synchronous, so the last lines before an exit are not lost; redaction happens before this.
  const stream = pretty({
    sync: true,
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,name,phase,ms',
    singleLine: true,
  });
  return pino(options, stream);
}
