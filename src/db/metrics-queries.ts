import type { Pool } from 'pg';

export interface RotationCount {
  accountId: string;
  tokenName: string;
  status: string;
  count: number;
  lastFinishedAt: Date | null;
}

export interface LatestHealthToken {
  accountId: string;
  name: string;
  kind: string;
  state: string;
  missingPermissions: number;
  daysUntilExpiry: number | null;
}

/** What /metrics exposes, read from the history tables at scrape time. */
export function createMetricsQueries(pool: Pool) {
  return {
    async rotationCounts(): Promise<RotationCount[]> {
      const { rows } = await pool.query(
        `SELECT account_id, token_name, status, count(*)::int AS n, max(finished_at) AS last FROM rotations GROUP BY account_id, token_name, status`,
      );
      return rows.map((r) => ({ accountId: r.account_id, tokenName: r.token_name, status: r.status, count: r.n, lastFinishedAt: r.last }));
    },

    /** The per-token results of the newest health check run. */
    async latestHealth(): Promise<LatestHealthToken[]> {
      const { rows } = await pool.query(`SELECT results FROM api_token_checks WHERE kind = 'health' ORDER BY checked_at DESC, id DESC LIMIT 1`);
      const tokens = (rows[0]?.results?.report?.tokens ?? []) as Array<Record<string, unknown>>;
      return tokens.map((t) => ({
        accountId: String(t.accountId ?? ''),
        name: String(t.name ?? ''),
        kind: String(t.kind ?? ''),
        state: String(t.state ?? 'unknown'),
        missingPermissions: Array.isArray(t.missingPermissions) ? t.missingPermissions.length : 0,
        daysUntilExpiry: typeof t.daysUntilExpiry === 'number' ? t.daysUntilExpiry : null,
      }));
    },
  };
}

export type MetricsQueries = ReturnType<typeof createMetricsQueries>;
