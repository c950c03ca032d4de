import { z } from 'zod';
import { seedRoles, type TokenHealth } from './evaluate';

/** `GET /tokens/history` on the wire, and the summary a health row keeps for it (see wire.ts for the rules). */

export const historyEntrySchema = z.object({
  timestamp: z.string(),
  overall_health: z.string(),
  account_token_valid: z.boolean().nullable(),
  account_token_has_all_perms: z.boolean().nullable(),
  account_token_missing_perms: z.number().int().nullable(),
  user_token_valid: z.boolean().nullable(),
  user_token_has_all_perms: z.boolean().nullable(),
  user_token_missing_perms: z.number().int().nullable(),
  auto_heal_attempted: z.boolean(),
  auto_heal_success: z.boolean().nullable(),
  triggered_by: z.string(),
  workflow_id: z.string(),
});

export const historyDataSchema = z.object({ history: z.array(historyEntrySchema), count: z.number().int() });

export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** What a history row keeps for the seed's history entries (also stored in the row's results). */
export const historySummarySchema = z.object({
  account_token: z
    .object({ valid: z.boolean(), has_all_perms: z.boolean(), missing_perms: z.number().int() })
    .nullable(),
  user_token: z.object({ valid: z.boolean(), has_all_perms: z.boolean(), missing_perms: z.number().int() }).nullable(),
});
export type HistorySummary = z.infer<typeof historySummarySchema>;

export function historySummary(tokens: readonly TokenHealth[]): HistorySummary {
  const roles = seedRoles(tokens);
  const summary = (index: number | null) => {
    const token = index === null ? undefined : tokens[index];
    return token
      ? {
          valid: token.isValid && token.isActive,
          has_all_perms: token.hasAllPermissions,
          missing_perms: token.missingPermissions.length,
        }
      : null;
  };
  return { account_token: summary(roles.account), user_token: summary(roles.user) };
}

/** The results column of a health row: the summary above, the run's timestamp, the full report. */
const storedResultsSchema = z.object({ timestamp: z.string().optional(), summary: historySummarySchema });

export function historyEntry(row: {
  checkedAt: Date;
  overallHealth: string;
  autoHealAttempted: boolean;
  autoHealSuccess: boolean | null;
  triggeredBy: string;
  workflowId: string;
  results: unknown;
}): HistoryEntry {
  const parsed = storedResultsSchema.safeParse(row.results);
  const summary = parsed.success ? parsed.data.summary : { account_token: null, user_token: null };
  return {
    timestamp: (parsed.success ? parsed.data.timestamp : undefined) ?? row.checkedAt.toISOString(),
    overall_health: row.overallHealth,
    account_token_valid: summary.account_token?.valid ?? null,
    account_token_has_all_perms: summary.account_token?.has_all_perms ?? null,
    account_token_missing_perms: summary.account_token?.missing_perms ?? null,
    user_token_valid: summary.user_token?.valid ?? null,
    user_token_has_all_perms: summary.user_token?.has_all_perms ?? null,
    user_token_missing_perms: summary.user_token?.missing_perms ?? null,
    auto_heal_attempted: row.autoHealAttempted,
    auto_heal_success: row.autoHealSuccess,
    triggered_by: row.triggeredBy,
    workflow_id: row.workflowId,
  };
}
