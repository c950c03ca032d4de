import { z } from 'zod';
import { EXPIRY_WARNING_DAYS, seedRoles, tokenLabel, type HealOutcome, type TokenHealth } from './evaluate';
import type { TokenHealthReport } from './report';

/**
 * The Token Manager REST contract (seed 004), field for field and in the seed's order: the
 * serializer emits keys in schema order and drops any key a schema does not name, so nothing
 * else (least of all a token value) can reach a response. Everything beyond the seed comes
 * after the seed's fields, in keys of its own.
 */

export const healthStateSchema = z.enum(['healthy', 'degraded', 'unhealthy']);
export const tokenTypeSchema = z.enum(['account', 'user']);

export const seedTokenSchema = z.object({
  token_type: tokenTypeSchema,
  token_id: z.string().nullable(),
  is_valid: z.boolean(),
  is_active: z.boolean(),
  expires_on: z.string().nullable(),
  missing_permissions: z.array(z.string()),
  has_all_permissions: z.boolean(),
  verification_url: z.string(),
});

export const healResultSchema = z.object({
  success: z.boolean(),
  token_type: tokenTypeSchema,
  token_id: z.string().nullable(),
  permissions_added: z.array(z.string()),
  permissions_already_present: z.array(z.string()),
  message: z.string(),
  /** Required permissions heal could not add, and why (only when there are some). */
  not_added: z.array(z.object({ permission: z.string(), reason: z.string() })).optional(),
});

export const dryRunResultSchema = healResultSchema.extend({ would_add: z.array(z.string()) });

const healResultsSchema = z.object({
  account_token: healResultSchema.optional(),
  user_token: healResultSchema.optional(),
});
const dryRunResultsSchema = z.object({
  account_token: dryRunResultSchema.optional(),
  user_token: dryRunResultSchema.optional(),
});

const tokenDetailSchema = z.object({
  name: z.string(),
  account_id: z.string(),
  token_type: tokenTypeSchema,
  token_id: z.string().nullable(),
  health: healthStateSchema,
  status: z.string().nullable(),
  expires_on: z.string().nullable(),
  days_until_expiry: z.number().int().nullable(),
  expiring_soon: z.boolean(),
  problem: z.string().nullable(),
  permissions: z.array(
    z.object({
      permission: z.string(),
      state: z.enum(['present', 'missing', 'denied', 'unknown', 'unavailable']),
      key: z.string().nullable(),
    }),
  ),
  over_privileged: z.boolean(),
  extra_permissions: z.array(z.string()),
  /** Tokens token-warden rotates: when the expiry sweep renews this one (null: it never expires). */
  next_rotation_at: z.string().nullable().optional(),
});

const selfAuditSchema = z.object({
  token_type: tokenTypeSchema.nullable(),
  token_id: z.string().nullable(),
  is_valid: z.boolean(),
  is_active: z.boolean(),
  expires_on: z.string().nullable(),
  days_until_expiry: z.number().int().nullable(),
  has_all_needed_permissions: z.boolean().nullable(),
  missing_permissions: z.array(z.string()),
  problem: z.string().nullable(),
});

export const healthDataSchema = z.object({
  timestamp: z.string(),
  account_token: seedTokenSchema.nullable(),
  user_token: seedTokenSchema.nullable(),
  overall_health: healthStateSchema,
  recommendations: z.array(z.string()),
  auto_heal_attempted: z.boolean(),
  auto_heal_results: healResultsSchema.optional(),
  dry_run: z.boolean().optional(),
  dry_run_results: dryRunResultsSchema.optional(),
  additional_tokens: z
    .array(
      z.object({
        name: z.string(),
        account_id: z.string(),
        token: seedTokenSchema,
        auto_heal_result: healResultSchema.optional(),
        dry_run_result: dryRunResultSchema.optional(),
      }),
    )
    .optional(),
  token_details: z.array(tokenDetailSchema),
  self_audit: selfAuditSchema.nullable(),
  workflow_id: z.string(),
  run_id: z.string(),
});

export type SeedToken = z.infer<typeof seedTokenSchema>;
export type HealResult = z.infer<typeof healResultSchema>;
export type DryRunResult = z.infer<typeof dryRunResultSchema>;
export type HealthData = z.infer<typeof healthDataSchema>;

export const toSeedToken = (token: TokenHealth): SeedToken => ({
  token_type: token.kind,
  token_id: token.tokenId,
  is_valid: token.isValid,
  is_active: token.isActive,
  expires_on: token.expiresOn,
  missing_permissions: token.missingPermissions,
  has_all_permissions: token.hasAllPermissions,
  verification_url: token.verificationUrl,
});

export const toHealResult = (outcome: HealOutcome): HealResult => ({
  success: outcome.success,
  token_type: outcome.kind,
  token_id: outcome.tokenId,
  permissions_added: outcome.permissionsAdded,
  permissions_already_present: outcome.permissionsAlreadyPresent,
  message: outcome.message,
  ...(outcome.notAdded.length ? { not_added: outcome.notAdded } : {}),
});

const toDryRunResult = (outcome: HealOutcome): DryRunResult => ({
  ...toHealResult(outcome),
  would_add: outcome.wouldAdd,
});

const toDetail = (token: TokenHealth): z.infer<typeof tokenDetailSchema> => ({
  name: token.name,
  account_id: token.accountId,
  token_type: token.kind,
  token_id: token.tokenId,
  health: token.state,
  status: token.status,
  expires_on: token.expiresOn,
  days_until_expiry: token.daysUntilExpiry,
  expiring_soon: token.daysUntilExpiry !== null && token.daysUntilExpiry < EXPIRY_WARNING_DAYS,
  problem: token.problem,
  permissions: token.requirements.map((r) => ({ permission: r.permission, state: r.state, key: r.key })),
  over_privileged: token.extraPermissions.length > 0,
  extra_permissions: token.extraPermissions,
  ...(token.nextRotationAt === undefined ? {} : { next_rotation_at: token.nextRotationAt }),
});

export function healthData(report: TokenHealthReport): HealthData {
  const roles = seedRoles(report.tokens);
  const at = (index: number | null) => (index === null ? undefined : report.tokens[index]);
  const healAt = (index: number | null) => (index === null ? undefined : (report.heal?.[index] ?? undefined));
  const accountToken = at(roles.account);
  const userToken = at(roles.user);
  const applied = report.heal !== null && !report.dryRun;
  const results = <T>(convert: (o: HealOutcome) => T) => {
    const account = healAt(roles.account);
    const user = healAt(roles.user);
    return { ...(account ? { account_token: convert(account) } : {}), ...(user ? { user_token: convert(user) } : {}) };
  };
  const additional = roles.additional.flatMap((index) => {
    const token = report.tokens[index];
    if (!token) return [];
    const heal = healAt(index);
    return [
      {
        name: token.name,
        account_id: token.accountId,
        token: toSeedToken(token),
        ...(heal && applied ? { auto_heal_result: toHealResult(heal) } : {}),
        ...(heal && report.dryRun ? { dry_run_result: toDryRunResult(heal) } : {}),
      },
    ];
  });
  const audit = report.selfAudit;
  return {
    timestamp: report.timestamp,
    account_token: accountToken ? toSeedToken(accountToken) : null,
    user_token: userToken ? toSeedToken(userToken) : null,
    overall_health: report.overallHealth,
    recommendations: report.recommendations,
    auto_heal_attempted: applied,
    ...(applied ? { auto_heal_results: results(toHealResult) } : {}),
    ...(report.dryRun && report.heal ? { dry_run: true, dry_run_results: results(toDryRunResult) } : {}),
    ...(additional.length ? { additional_tokens: additional } : {}),
    token_details: report.tokens.map(toDetail),
    self_audit: audit
      ? {
          token_type: audit.kind,
          token_id: audit.tokenId,
          is_valid: audit.isValid,
          is_active: audit.isActive,
          expires_on: audit.expiresOn,
          days_until_expiry: audit.daysUntilExpiry,
          has_all_needed_permissions: audit.permissionsReadable ? audit.missing.length === 0 : null,
          missing_permissions: audit.missing,
          problem: audit.problem,
        }
      : null,
    workflow_id: report.workflowId,
    run_id: report.runId,
  };
}

/** `POST /tokens/heal`'s message: the seed's on success, which tokens failed otherwise. */
export function healMessage(report: TokenHealthReport): string {
  const outcomes = report.heal ?? [];
  if (report.dryRun) {
    const count = outcomes.reduce((n, o) => n + o.wouldAdd.length, 0);
    return `Dry run: would add ${count} missing permission${count === 1 ? '' : 's'}; nothing was changed`;
  }
  const failed = outcomes.map((o, i) => ({ o, i })).filter(({ o }) => !o.success);
  if (failed.length === 0) return 'Successfully healed all tokens';
  return `Could not heal ${failed.length} of ${outcomes.length} token${outcomes.length === 1 ? '' : 's'}: ${failed.map(({ i }) => tokenLabel(report.tokens, i)).join(', ')}`;
}
