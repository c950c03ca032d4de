import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';

/** Where a policy lives: reusable policies and app-scoped ones are edited through different paths. */
export interface PolicyRef {
  policyId: string;
  name: string;
  /** Set for app-scoped policies; reusable ones are edited at the account level. */
  appId?: string;
}

/** A policy and the service tokens its rules name (in include, require or exclude). */
export interface IndexedPolicy extends PolicyRef {
  tokenIds: readonly string[];
}

export interface PolicyIndexRefresh {
  /** A lookup in an index never built, or built from a scan older than this, rebuilds it first. */
  maxAgeMs: number;
  /** Every policy of the account, read from Cloudflare. */
  scan: () => Promise<IndexedPolicy[]>;
}

/**
 * Which Access policies name which service tokens, per account, so an edit goes straight to the
 * policies naming its token. A hint, never the truth: every edit re-reads its policy under the
 * policy's lock before it writes, and `record`s what it saw.
 *
 * Listing a policy that no longer names a token costs one read (the edit finds nothing to do and
 * corrects the row); missing one that does would leave a new token unbound (its consumers refused)
 * or an old token named after it is deleted. So the index only ever drops a token on evidence: a
 * full scan, or a read by the run that owns the token (`decides`). Everything else only adds.
 */
export interface PolicyIndex {
  /** The policies the index says name `tokenId`, after a full scan when the account's index is missing or too old. */
  policiesNaming(accountId: string, tokenId: string, refresh: PolicyIndexRefresh): Promise<PolicyRef[]>;
  /**
   * What one read of a policy showed (or what an edit is about to make true): every token of
   * `seen.tokenIds` is added to the policy's row; each token of `decides` that it does not list is
   * removed. Pass in `decides` only tokens no one else edits meanwhile: the caller's own.
   */
  record(accountId: string, seen: IndexedPolicy, decides?: readonly string[]): Promise<void>;
  /** The policy is gone from Cloudflare. */
  forget(accountId: string, policyId: string): Promise<void>;
}

/** Concurrent callers with the same key share one run of `work`. */
function singleFlight(): (key: string, work: () => Promise<void>) => Promise<void> {
  const running = new Map<string, Promise<void>>();
  return (key, work) => {
    const current = running.get(key);
    if (current) return current;
    const started = work().finally(() => running.delete(key));
    running.set(key, started);
    return started;
  };
}

const byPlace = (a: PolicyRef, b: PolicyRef): number =>
  Number(a.appId !== undefined) - Number(b.appId !== undefined) ||
  (a.appId ?? '').localeCompare(b.appId ?? '') ||
  a.name.localeCompare(b.name) ||
  a.policyId.localeCompare(b.policyId);

const refOf = (policy: PolicyRef): PolicyRef => ({
  policyId: policy.policyId,
  name: policy.name,
  ...(policy.appId !== undefined ? { appId: policy.appId } : {}),
});

/**
 * The index of one process, for callers without Postgres: the same rules as the Postgres one, with
 * a write counter in place of the database clock. `now` only ages the index.
 */
export function createInMemoryPolicyIndex(now: () => number = Date.now): PolicyIndex {
  interface Row {
    ref: PolicyRef;
    tokenIds: Set<string>;
    seenAt: number;
  }
  interface Account {
    scannedAt?: number;
    rows: Map<string, Row>;
  }
  const accounts = new Map<string, Account>();
  const flight = singleFlight();
  let writes = 0;

  const account = (accountId: string): Account => {
    const found = accounts.get(accountId);
    if (found) return found;
    const created: Account = { rows: new Map() };
    accounts.set(accountId, created);
    return created;
  };
  const fresh = (accountId: string, maxAgeMs: number): boolean => {
    const scannedAt = accounts.get(accountId)?.scannedAt;
    return scannedAt !== undefined && now() - scannedAt < maxAgeMs;
  };

  async function rebuild(accountId: string, scan: PolicyIndexRefresh['scan']): Promise<void> {
    const startedAt = now();
    const start = ++writes;
    const policies = await scan();
    const { rows } = account(accountId);
    const seen = new Set<string>();
    for (const policy of policies) {
      seen.add(policy.policyId);
      const row = rows.get(policy.policyId);
      // Recorded after the scan began: the scan may have read the policy before that edit.
      if (row && row.seenAt > start) for (const tokenId of policy.tokenIds) row.tokenIds.add(tokenId);
      else rows.set(policy.policyId, { ref: refOf(policy), tokenIds: new Set(policy.tokenIds), seenAt: start });
    }
    for (const [policyId, row] of rows) if (!seen.has(policyId) && row.seenAt <= start) rows.delete(policyId);
    account(accountId).scannedAt = startedAt;
  }

  return {
    async policiesNaming(accountId, tokenId, refresh) {
      if (!fresh(accountId, refresh.maxAgeMs)) {
        await flight(accountId, async () => {
          if (!fresh(accountId, refresh.maxAgeMs)) await rebuild(accountId, refresh.scan);
        });
      }
      const rows = [...account(accountId).rows.values()];
      return rows
        .filter((row) => row.tokenIds.has(tokenId))
        .map((row) => row.ref)
        .sort(byPlace);
    },

    async record(accountId, seen, decides = []) {
      const { rows } = account(accountId);
      const tokenIds = new Set(
        [...(rows.get(seen.policyId)?.tokenIds ?? [])].filter((tokenId) => !decides.includes(tokenId)),
      );
      for (const tokenId of seen.tokenIds) tokenIds.add(tokenId);
      rows.set(seen.policyId, { ref: refOf(seen), tokenIds, seenAt: ++writes });
    },

    async forget(accountId, policyId) {
      accounts.get(accountId)?.rows.delete(policyId);
    },
  };
}

/** First key of every advisory lock token-warden takes (as in advisory-lock.ts). */
const NAMESPACE = 0x54574152; // "TWAR"

export interface PostgresPolicyIndexOptions {
  /** How long a lookup waits for another worker's scan of the same account before it fails (its activity then retries). */
  waitMs?: number;
  /** How often a waiting lookup looks again. */
  pollMs?: number;
}

/**
 * The index in Postgres, shared by every worker of the fleet (migration 1764500200000).
 *
 * One scan per account at a time across the fleet: a lookup that finds the index stale takes a
 * transaction-scoped advisory lock on the account (try, never block: waiting holds no pool
 * connection) and scans only if the index is still stale once it holds the lock; the others poll
 * until the scan is committed, then use it. A scanner that dies drops its connection and the lock
 * with it. The scan's rows, the deletion of vanished policies and the scan time commit together.
 *
 * Writes carry the database clock (`seen_at`): a scan stamps its rows with the moment it started,
 * and meets rows written after that moment (an edit recorded while the scan ran, which the scan
 * may have read before the edit) with a union instead of an overwrite, so no concurrent bind is lost.
 */
export function createPostgresPolicyIndex(pool: Pool, options: PostgresPolicyIndexOptions = {}): PolicyIndex {
  const waitMs = options.waitMs ?? 20_000;
  const pollMs = options.pollMs ?? 250;
  const flight = singleFlight();

  async function fresh(db: Pool | PoolClient, accountId: string, maxAgeMs: number): Promise<boolean> {
    const { rows } = await db.query<{ fresh: boolean }>(
      `SELECT scanned_at > clock_timestamp() - $2::double precision * interval '1 millisecond' AS fresh
       FROM access_policy_scans WHERE account_id = $1`,
      [accountId, maxAgeMs],
    );
    return rows[0]?.fresh === true;
  }

  async function rebuild(client: PoolClient, accountId: string, scan: PolicyIndexRefresh['scan']): Promise<void> {
    const { rows } = await client.query<{ at: string }>('SELECT clock_timestamp()::text AS at');
    const start = rows[0]!.at;
    const policies = new Map((await scan()).map((policy) => [policy.policyId, policy]));
    const payload = [...policies.values()].map((p) => ({
      policyId: p.policyId,
      name: p.name,
      appId: p.appId ?? null,
      tokenIds: [...new Set(p.tokenIds)].sort(),
    }));
    await client.query(
      `INSERT INTO access_policy_index AS i (account_id, policy_id, name, app_id, token_ids, seen_at)
       SELECT $1, p->>'policyId', p->>'name', p->>'appId', ARRAY(SELECT jsonb_array_elements_text(p->'tokenIds')), $3::timestamptz
       FROM jsonb_array_elements($2::jsonb) AS p
       ON CONFLICT (account_id, policy_id) DO UPDATE SET
         name = EXCLUDED.name,
         app_id = EXCLUDED.app_id,
         token_ids = CASE WHEN i.seen_at > EXCLUDED.seen_at
           THEN ARRAY(SELECT unnest(i.token_ids) UNION SELECT unnest(EXCLUDED.token_ids) ORDER BY 1)
           ELSE EXCLUDED.token_ids END,
         seen_at = GREATEST(i.seen_at, EXCLUDED.seen_at)`,
      [accountId, JSON.stringify(payload), start],
    );
    await client.query(
      'DELETE FROM access_policy_index WHERE account_id = $1 AND seen_at <= $2::timestamptz AND NOT (policy_id = ANY($3::text[]))',
      [accountId, start, [...policies.keys()]],
    );
    await client.query(
      `INSERT INTO access_policy_scans (account_id, scanned_at) VALUES ($1, $2::timestamptz)
       ON CONFLICT (account_id) DO UPDATE SET scanned_at = EXCLUDED.scanned_at`,
      [accountId, start],
    );
  }

  /** True when this call held the account's lock (and scanned if the index was still stale). */
  async function tryRebuild(accountId: string, refresh: PolicyIndexRefresh): Promise<boolean> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked',
        [NAMESPACE, `access-policy-index/${accountId}`],
      );
      if (rows[0]?.locked !== true) {
        await client.query('ROLLBACK');
        return false;
      }
      // Another worker may have committed its scan between our look and our lock.
      if (!(await fresh(client, accountId, refresh.maxAgeMs))) await rebuild(client, accountId, refresh.scan);
      await client.query('COMMIT');
      return true;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async function ensureFresh(accountId: string, refresh: PolicyIndexRefresh): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (await fresh(pool, accountId, refresh.maxAgeMs)) return;
      if (await tryRebuild(accountId, refresh)) return;
      if (Date.now() >= deadline)
        throw new Error(
          `Access policy index of account ${accountId}: another worker's scan did not finish within ${waitMs} ms`,
        );
      await sleep(pollMs);
    }
  }

  return {
    async policiesNaming(accountId, tokenId, refresh) {
      await flight(accountId, () => ensureFresh(accountId, refresh));
      const { rows } = await pool.query<{ policy_id: string; name: string; app_id: string | null }>(
        `SELECT policy_id, name, app_id FROM access_policy_index
         WHERE account_id = $1 AND token_ids @> ARRAY[$2::text]
         ORDER BY app_id NULLS FIRST, name, policy_id`,
        [accountId, tokenId],
      );
      return rows.map((row) => ({
        policyId: row.policy_id,
        name: row.name,
        ...(row.app_id !== null ? { appId: row.app_id } : {}),
      }));
    },

    async record(accountId, seen, decides = []) {
      await pool.query(
        `INSERT INTO access_policy_index AS i (account_id, policy_id, name, app_id, token_ids, seen_at)
         VALUES ($1, $2, $3, $4, $5::text[], clock_timestamp())
         ON CONFLICT (account_id, policy_id) DO UPDATE SET
           name = EXCLUDED.name,
           app_id = EXCLUDED.app_id,
           token_ids = ARRAY(SELECT t FROM unnest(i.token_ids) AS t WHERE t <> ALL($6::text[]) UNION SELECT unnest(EXCLUDED.token_ids) ORDER BY 1),
           seen_at = clock_timestamp()`,
        [accountId, seen.policyId, seen.name, seen.appId ?? null, [...new Set(seen.tokenIds)].sort(), [...decides]],
      );
    },

    async forget(accountId, policyId) {
      await pool.query('DELETE FROM access_policy_index WHERE account_id = $1 AND policy_id = $2', [
        accountId,
        policyId,
      ]);
    },
  };
}
