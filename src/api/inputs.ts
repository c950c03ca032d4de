import { z } from 'zod';
import { cursorPattern, decodeCursor, type PagedList } from './cursor';

/**
 * What the API accepts in params, query strings and bodies, each string validated for what it
 * is. A control character (NUL included) never reaches Postgres (which refuses NUL in text with
 * 22021), Temporal or a log line; bidi overrides are refused with them, so a name or reason reads
 * in the dashboard and the audit trail as it was written. Each pattern is also a JSON-Schema
 * `pattern` in the OpenAPI document, so clients (and the fuzz) know what passes.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$/u;
const printable = (max: number) => z.string().min(1).max(max).regex(PRINTABLE, 'must not contain control characters');

/** A managed service token's name as the inventory spells it. */
export const tokenName = printable(200);

/** Cloudflare account ids are 32 lowercase hex digits. */
export const accountId = z
  .string()
  .regex(/^[0-9a-f]{32}$/, 'must be a Cloudflare account id (32 lowercase hex digits)');

/** Temporal run ids are UUIDs. */
export const runId = z
  .string()
  .regex(
    /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
    'must be a Temporal run id (a UUID)',
  );

/** Temporal workflow ids: token-warden's are `rotate/<account>/<token>`, `token-health/<uuid>`, … */
export const workflowId = printable(500);

/** Why a client asked: one line of text, kept in the audit trail and the run's history. */
export const reason = printable(500);

/** `true` or `false` in a query string. */
export const flag = z.enum(['true', 'false']).default('false');

/**
 * A whole number in a query string, written as one: `5`, never ``, ` 5`, `05`, `5.0`, `0x5` or
 * `1e1`, which a plain `Number()` coercion would all let through.
 */
export const queryInteger = (min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value) ? Number(value) : value),
    z.number().int().min(min).max(max),
  );

/** A page size in a query string. */
export const limit = (max: number, fallback: number) => queryInteger(1, max).default(fallback);

/**
 * `before=`: the `next_before` an earlier page of the same list answered with; the page starts
 * right after that page's last row. Its pattern is exact (see cursor.ts), so whatever matches it
 * is a page and anything else, a cursor of the other list included, is a 400.
 */
export const before = (list: PagedList) =>
  z
    .string()
    .regex(cursorPattern(list), `must be the next_before of an earlier page of this list (${list})`)
    .transform((value, context) => {
      const position = decodeCursor(list, value);
      if (position) return position;
      context.addIssue({
        code: 'custom',
        message: `must be the next_before of an earlier page of this list (${list})`,
      });
      return z.NEVER;
    })
    .meta({
      description:
        'The `next_before` of the previous page: this page starts right after its last row (keyset pagination, stable while rows are added).',
    });

/** Standard base64 with its padding, as the Temporal UI's codec client sends it. */
export const base64 = z
  .string()
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'must be base64');
