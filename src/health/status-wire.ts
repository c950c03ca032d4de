import { z } from 'zod';
import { seedRoles } from './evaluate';
import { healthStateSchema, tokenTypeSchema } from './wire';

/** `GET /tokens/status` on the wire: the seed's quick status, and what it is built from (see wire.ts for the rules). */

const statusTokenSchema = z.object({
  is_valid: z.boolean(),
  is_active: z.boolean(),
  has_all_permissions: z.boolean(),
  missing_permissions_count: z.number().int(),
});

export const statusDataSchema = z.object({
  overall_health: healthStateSchema,
  account_token: statusTokenSchema.nullable(),
  user_token: statusTokenSchema.nullable(),
  recommendations: z.array(z.string()),
  additional_tokens: z.array(statusTokenSchema.extend({ name: z.string(), account_id: z.string() })).optional(),
});

/**
 * `GET /tokens/status`: the seed's fields from the latest recorded health check, then where
 * they come from and how old they are. A status read answers from recorded state; a check
 * runs only when the record is older than the bound (or there is none).
 */
export const statusAnswerSchema = statusDataSchema.extend({
  /** When the answered check ran (its run's timestamp). */
  checked_at: z.string(),
  age_seconds: z.number().int(),
  /** The bound: a record older than this starts a check. */
  max_age_seconds: z.number().int(),
  /** Older than the bound: the refresh did not finish within the request (see `refresh`). */
  stale: z.boolean(),
  /** The checkTokenHealth run the answer comes from. */
  workflow_id: z.string(),
  run_id: z.string(),
  /** Whether this request started a check (false when it answered from a fresh record or joined a check already running). */
  refresh_started: z.boolean(),
  /** The check a stale or missing record called for, and how it ended within the request; null when the record was fresh. */
  refresh: z
    .object({ workflow_id: z.string(), state: z.enum(['completed', 'running', 'failed', 'unavailable']) })
    .nullable(),
});

export type StatusData = z.infer<typeof statusDataSchema>;
export type StatusAnswer = z.infer<typeof statusAnswerSchema>;

/**
 * What the status answer needs of a run's report. A recorded report is parsed with it (a row
 * written by an older version that lacks a field is no answer, not a crash); a report fresh
 * from a run satisfies it as it is.
 */
export const statusSourceSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  timestamp: z.iso.datetime(),
  overallHealth: healthStateSchema,
  recommendations: z.array(z.string()),
  tokens: z.array(
    z.object({
      accountId: z.string(),
      name: z.string(),
      kind: tokenTypeSchema,
      isValid: z.boolean(),
      isActive: z.boolean(),
      hasAllPermissions: z.boolean(),
      missingPermissions: z.array(z.string()),
    }),
  ),
});
export type StatusSource = z.infer<typeof statusSourceSchema>;

/** The report inside a health row's results (see recordTokenHealth), or null when the row holds none it can read. */
export function recordedStatusSource(results: unknown): StatusSource | null {
  const parsed = z.object({ report: statusSourceSchema }).safeParse(results);
  return parsed.success ? parsed.data.report : null;
}

const toStatusToken = (token: StatusSource['tokens'][number]): z.infer<typeof statusTokenSchema> => ({
  is_valid: token.isValid,
  is_active: token.isActive,
  has_all_permissions: token.hasAllPermissions,
  missing_permissions_count: token.missingPermissions.length,
});

export function statusData(report: StatusSource): StatusData {
  const roles = seedRoles(report.tokens);
  const at = (index: number | null) => (index === null ? undefined : report.tokens[index]);
  const accountToken = at(roles.account);
  const userToken = at(roles.user);
  const additional = roles.additional.flatMap((index) => {
    const token = report.tokens[index];
    return token ? [{ ...toStatusToken(token), name: token.name, account_id: token.accountId }] : [];
  });
  return {
    overall_health: report.overallHealth,
    account_token: accountToken ? toStatusToken(accountToken) : null,
    user_token: userToken ? toStatusToken(userToken) : null,
    recommendations: report.recommendations,
    ...(additional.length ? { additional_tokens: additional } : {}),
  };
}
