import type { Pool } from 'pg';
import { z } from 'zod';
import { createDiscoveredCredentialsRepository } from './discovered-credentials';

export interface RotationCount {
  accountId: string;
  tokenName: string;
  status: string;
  count: number;
  lastFinishedAt: Date | null;
}

/** The newest finished rotation run of a service token. */
export interface LastRotation {
  accountId: string;
  tokenName: string;
  status: string;
  finishedAt: Date;
}

/**
 * The parts of a recorded health report (api_token_checks.results.report, written by
 * recordTokenHealth) that /metrics reads. Parsed, not trusted: a row that does not have this
 * shape is left out of the metrics rather than exported as zeros.
 */
const storedTokenSchema = z.object({
  accountId: z.string(),
  name: z.string(),
  kind: z.string(),
  state: z.string(),
  missingPermissions: z.array(z.string()),
  expiresOn: z.string().nullable(),
});
const storedHealSchema = z.object({
  accountId: z.string(),
  name: z.string(),
  success: z.boolean(),
  dryRun: z.boolean(),
});
const storedSelfAuditSchema = z.object({
  tokenId: z.string().nullable(),
  isValid: z.boolean(),
  isActive: z.boolean(),
  expiresOn: z.string().nullable(),
  missing: z.array(z.string()),
});
const storedReportSchema = z.object({
  tokens: z.array(storedTokenSchema),
  heal: z.array(storedHealSchema).nullable(),
  selfAudit: storedSelfAuditSchema.nullable(),
});
const storedResultsSchema = z.object({ report: storedReportSchema });

export type CheckedApiToken = z.infer<typeof storedTokenSchema>;
export type HealAttempt = z.infer<typeof storedHealSchema>;
export type OwnTokenAudit = z.infer<typeof storedSelfAuditSchema>;

/** The newest health check: when it ran, every inventory API token as it found them, and token-warden's own token. */
export interface LatestHealthCheck {
  checkedAt: Date;
  tokens: CheckedApiToken[];
  ownToken: OwnTokenAudit | null;
}

/** One Cloudflare user's shared request budget (times are epoch milliseconds on the database's clock). */
export interface BudgetState {
  owner: string;
  granted: number;
  rateLimited: number;
  blockedUntil: number;
  /** Cloudflare's remaining allowance in its current window, as last reported and counted down; null when unknown or that window is over. */
  cloudflareRemaining: number | null;
}

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::double precision';

function parseReport(results: unknown) {
  const parsed = storedResultsSchema.safeParse(results);
  return parsed.success ? parsed.data.report : null;
}

/** What /metrics exposes, read from Postgres at scrape time, so every API replica reports the same numbers. */
export function createMetricsQueries(pool: Pick<Pool, 'query'>) {
  return {
    /** Unmanaged and never-expiring credentials per account and kind, as discovery last found them. */
    discoveredCounts: createDiscoveredCredentialsRepository(pool).counts,
    async rotationCounts(): Promise<RotationCount[]> {
      const { rows } = await pool.query(
        `SELECT account_id, token_name, status, count(*)::int AS n, max(finished_at) AS last FROM rotations WHERE kind = 'service-token' GROUP BY account_id, token_name, status`,
      );
      return rows.map((r) => ({
        accountId: r.account_id,
        tokenName: r.token_name,
        status: r.status,
        count: r.n,
        lastFinishedAt: r.last,
      }));
    },

    /** Per token, the finished run that started last: a failure stays visible until a later run ends otherwise. */
    async lastRotations(): Promise<LastRotation[]> {
      const { rows } = await pool.query(
        `SELECT DISTINCT ON (account_id, token_name) account_id, token_name, status, finished_at
           FROM rotations WHERE kind = 'service-token' AND status <> 'running' AND finished_at IS NOT NULL
          ORDER BY account_id, token_name, started_at DESC, finished_at DESC`,
      );
      return rows.map((r) => ({
        accountId: r.account_id,
        tokenName: r.token_name,
        status: r.status,
        finishedAt: r.finished_at,
      }));
    },

    /** Per API token, when its newest completed rotation finished. */
    async lastApiTokenRotations(): Promise<Array<{ accountId: string; tokenName: string; finishedAt: Date }>> {
      const { rows } = await pool.query(
        `SELECT account_id, token_name, max(finished_at) AS last FROM rotations
          WHERE kind = 'api-token' AND status = 'completed' AND finished_at IS NOT NULL GROUP BY account_id, token_name`,
      );
      return rows.map((r) => ({ accountId: r.account_id, tokenName: r.token_name, finishedAt: r.last }));
    },

    async latestHealth(): Promise<LatestHealthCheck | null> {
      const { rows } = await pool.query(
        `SELECT checked_at, results FROM api_token_checks WHERE kind = 'health' ORDER BY checked_at DESC, id DESC LIMIT 1`,
      );
      const report = rows[0] ? parseReport(rows[0].results) : null;
      return report ? { checkedAt: rows[0].checked_at, tokens: report.tokens, ownToken: report.selfAudit } : null;
    },

    /** Per-token outcomes of the newest check that healed (not a dry run); empty before any. */
    async latestHeal(): Promise<HealAttempt[]> {
      const { rows } = await pool.query(
        `SELECT results FROM api_token_checks WHERE kind = 'health' AND auto_heal_attempted ORDER BY checked_at DESC, id DESC LIMIT 1`,
      );
      const report = rows[0] ? parseReport(rows[0].results) : null;
      return (report?.heal ?? []).filter((attempt) => !attempt.dryRun);
    },

    async budgets(): Promise<BudgetState[]> {
      const { rows } = await pool.query(
        `SELECT owner, granted, rate_limited, blocked_until, CASE WHEN cf_reset_at > ${NOW_MS} THEN cf_remaining END AS cf_remaining
           FROM cloudflare_budget ORDER BY owner`,
      );
      return rows.map((r) => ({
        owner: r.owner,
        granted: Number(r.granted),
        rateLimited: Number(r.rate_limited),
        blockedUntil: Number(r.blocked_until),
        cloudflareRemaining: r.cf_remaining === null ? null : Number(r.cf_remaining),
      }));
    },
  };
}

export type MetricsQueries = ReturnType<typeof createMetricsQueries>;
