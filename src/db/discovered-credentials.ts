import type { Pool } from 'pg';
import type { CredentialKind, DiscoveredCredential, DiscoveryScope } from '../discovery/credential-schemas';
import { exactTime, toPage, type ListPosition, type Page } from './keyset';

/** A recorded credential: what discovery saw, when, and whether it is still there. */
export interface DiscoveredRow extends DiscoveredCredential {
  firstDiscoveredAt: Date;
  lastDiscoveredAt: Date;
  goneAt: Date | null;
}

export interface DiscoveredFilter {
  accountId?: string;
  kind?: CredentialKind;
  unmanaged?: boolean;
  noExpiry?: boolean;
  /** Not used (nor created) for at least this many days. */
  unusedDays?: number;
  /** Expiring within this many days (expired ones included). */
  expiringDays?: number;
  /** Rows a later run no longer found; left out unless asked for. */
  includeGone?: boolean;
  limit: number;
  before?: ListPosition;
}

export interface DiscoveryRun {
  runId: string;
  workflowId: string;
  triggeredBy: string;
  startedAt: Date;
  finishedAt: Date;
  accounts: number;
  credentials: number;
  unmanaged: number;
  withoutExpiry: number;
  gone: number;
  cloudflareCalls: number;
  /** Lists token-warden's token could not read (`what: why`). */
  skipped: string[];
}

/** Per account and kind, the present credentials nobody manages and those that never expire (the gauges). */
export interface DiscoveredCounts {
  accountId: string;
  kind: CredentialKind;
  unmanaged: number;
  withoutExpiry: number;
}

const COLUMNS = `account_id, kind, credential_id, zone_id, name, managed, inventory_name, status, expires_at,
  last_used_at, created_at, over_privileged, permissions, first_discovered_at, last_discovered_at, gone_at`;

/** A discovered_credentials row as pg returns it. */
interface CredentialRecord {
  account_id: string;
  kind: CredentialKind;
  credential_id: string;
  zone_id: string | null;
  name: string;
  managed: boolean;
  inventory_name: string | null;
  status: string;
  expires_at: Date | null;
  last_used_at: Date | null;
  created_at: Date | null;
  over_privileged: string[] | null;
  permissions: string[] | null;
  first_discovered_at: Date;
  last_discovered_at: Date;
  gone_at: Date | null;
}

/** A discovery_runs row as pg returns it (counts are bigint text). */
interface RunRecord {
  run_id: string;
  workflow_id: string;
  triggered_by: string;
  started_at: Date;
  finished_at: Date;
  accounts: number;
  credentials: number | string;
  unmanaged: number | string;
  without_expiry: number | string;
  gone: number | string;
  cloudflare_calls: number;
  skipped: string[];
}

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

function toRow(row: CredentialRecord): DiscoveredRow {
  return {
    accountId: row.account_id,
    kind: row.kind,
    id: row.credential_id,
    zoneId: row.zone_id,
    name: row.name,
    managed: row.managed,
    inventoryName: row.inventory_name,
    status: row.status,
    expiresAt: iso(row.expires_at),
    lastUsedAt: iso(row.last_used_at),
    createdAt: iso(row.created_at),
    overPrivileged: row.over_privileged,
    permissions: row.permissions,
    firstDiscoveredAt: row.first_discovered_at,
    lastDiscoveredAt: row.last_discovered_at,
    goneAt: row.gone_at,
  };
}

/** Discovery's records: one row per credential (upserted by every run), one per run. */
export function createDiscoveredCredentialsRepository(pool: Pick<Pool, 'query'>) {
  return {
    /** One statement per call, whatever the number of credentials; a retried call writes the same. */
    async upsertCredentials(runId: string, credentials: readonly DiscoveredCredential[]): Promise<void> {
      if (credentials.length === 0) return;
      await pool.query(
        `INSERT INTO discovered_credentials (account_id, kind, credential_id, zone_id, name, managed, inventory_name,
           status, expires_at, last_used_at, created_at, over_privileged, permissions, last_run_id)
         SELECT c."accountId", c.kind, c.id, c."zoneId", c.name, c.managed, c."inventoryName", c.status,
           c."expiresAt", c."lastUsedAt", c."createdAt", c."overPrivileged", c.permissions, $1
           FROM jsonb_to_recordset($2::jsonb) AS c("accountId" text, kind text, id text, "zoneId" text, name text,
             managed boolean, "inventoryName" text, status text, "expiresAt" timestamptz, "lastUsedAt" timestamptz,
             "createdAt" timestamptz, "overPrivileged" jsonb, permissions jsonb)
         ON CONFLICT (account_id, kind, credential_id) DO UPDATE SET
           zone_id = EXCLUDED.zone_id, name = EXCLUDED.name, managed = EXCLUDED.managed,
           inventory_name = EXCLUDED.inventory_name, status = EXCLUDED.status, expires_at = EXCLUDED.expires_at,
           last_used_at = EXCLUDED.last_used_at, created_at = EXCLUDED.created_at,
           over_privileged = EXCLUDED.over_privileged, permissions = EXCLUDED.permissions, last_run_id = EXCLUDED.last_run_id,
           last_discovered_at = clock_timestamp(), gone_at = NULL, gone_run_id = NULL`,
        [runId, JSON.stringify(credentials)],
      );
    },

    /**
     * Ends a run: what it did not find in the lists it read in full is marked gone (a list it
     * could not read leaves its rows alone), and the run row is written with its counts.
     * Idempotent: a retry finds nothing new gone and rewrites the row.
     */
    async finishRun(run: {
      runId: string;
      workflowId: string;
      triggeredBy: string;
      startedAt: string;
      accountIds: readonly string[];
      covered: readonly DiscoveryScope[];
      skipped: readonly string[];
      cloudflareCalls: number;
    }): Promise<DiscoveryRun> {
      await pool.query(
        `UPDATE discovered_credentials SET gone_at = clock_timestamp(), gone_run_id = $4
          WHERE (account_id, kind, coalesce(zone_id, '')) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))
            AND last_run_id <> $4 AND gone_at IS NULL AND last_discovered_at < $5`,
        // A run started meanwhile may have listed a row since this one began: it is not gone.
        [
          run.covered.map((scope) => scope.accountId),
          run.covered.map((scope) => scope.kind),
          run.covered.map((scope) => scope.zoneId ?? ''),
          run.runId,
          run.startedAt,
        ],
      );
      const { rows } = await pool.query<RunRecord>(
        `INSERT INTO discovery_runs (run_id, workflow_id, triggered_by, started_at, accounts, credentials, unmanaged,
           without_expiry, gone, cloudflare_calls, skipped)
         SELECT $1, $2, $3, $4, $5,
           count(*) FILTER (WHERE last_run_id = $1),
           count(*) FILTER (WHERE last_run_id = $1 AND NOT managed),
           count(*) FILTER (WHERE last_run_id = $1 AND expires_at IS NULL),
           count(*) FILTER (WHERE gone_run_id = $1), $6, $8::jsonb
           FROM discovered_credentials WHERE account_id = ANY($7)
         ON CONFLICT (run_id) DO UPDATE SET finished_at = clock_timestamp(), credentials = EXCLUDED.credentials,
           unmanaged = EXCLUDED.unmanaged, without_expiry = EXCLUDED.without_expiry, gone = EXCLUDED.gone,
           cloudflare_calls = EXCLUDED.cloudflare_calls, skipped = EXCLUDED.skipped
         RETURNING *`,
        [
          run.runId,
          run.workflowId,
          run.triggeredBy,
          run.startedAt,
          run.accountIds.length,
          run.cloudflareCalls,
          run.accountIds,
          JSON.stringify(run.skipped),
        ],
      );
      const [written] = rows;
      if (!written) throw new Error(`discovery run ${run.runId} was not recorded`);
      return toRun(written);
    },

    async latestRun(): Promise<DiscoveryRun | null> {
      const { rows } = await pool.query<RunRecord>(`SELECT * FROM discovery_runs ORDER BY finished_at DESC LIMIT 1`);
      return rows[0] ? toRun(rows[0]) : null;
    },

    /** Newest discovered first, by keyset (see keyset.ts); every filter is AND-ed. */
    async listPage(filter: DiscoveredFilter): Promise<Page<DiscoveredRow>> {
      const params: unknown[] = [];
      const param = (value: unknown) => `$${params.push(value)}`;
      const days = (n: number) => `${param(n)} * interval '1 day'`;
      const where = [
        !filter.includeGone && 'gone_at IS NULL',
        filter.accountId !== undefined && `account_id = ${param(filter.accountId)}`,
        filter.kind !== undefined && `kind = ${param(filter.kind)}`,
        filter.unmanaged && 'NOT managed',
        filter.noExpiry && 'expires_at IS NULL',
        filter.unusedDays !== undefined &&
          `coalesce(last_used_at, created_at, first_discovered_at) <= now() - ${days(filter.unusedDays)}`,
        filter.expiringDays !== undefined && `expires_at <= now() + ${days(filter.expiringDays)}`,
        filter.before &&
          `(first_discovered_at, position_key) < (${param(filter.before.at)}::timestamptz, ${param(filter.before.key)}::text)`,
      ].filter((condition) => typeof condition === 'string');
      const { rows } = await pool.query<CredentialRecord & { position_key: string; position_at: string }>(
        `SELECT ${COLUMNS}, position_key, ${exactTime('first_discovered_at')} AS position_at FROM discovered_credentials
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY first_discovered_at DESC, position_key DESC LIMIT ${param(filter.limit + 1)}`,
        params,
      );
      const page = toPage(rows, filter.limit, (row) => ({ at: row.position_at, key: row.position_key }));
      return { rows: page.rows.map(toRow), next: page.next };
    },

    /** A credential by kind and id (the first account's row, for a user token recorded under several). */
    async find(kind: CredentialKind, id: string, accountId?: string): Promise<DiscoveredRow | null> {
      const { rows } = await pool.query<CredentialRecord>(
        `SELECT ${COLUMNS} FROM discovered_credentials WHERE kind = $1 AND credential_id = $2
           AND ($3::text IS NULL OR account_id = $3) ORDER BY gone_at NULLS FIRST, account_id LIMIT 1`,
        [kind, id, accountId ?? null],
      );
      return rows[0] ? toRow(rows[0]) : null;
    },

    /**
     * The id of the one account-scoped service token of this name the last discovery found, so an
     * emergency revoke can rotate it without listing first; null when it found none or several.
     */
    async serviceTokenIdByName(accountId: string, name: string): Promise<string | null> {
      const { rows } = await pool.query<{ credential_id: string }>(
        `SELECT credential_id FROM discovered_credentials
          WHERE account_id = $1 AND kind = 'service-token' AND name = $2 AND zone_id IS NULL AND gone_at IS NULL
          LIMIT 2`,
        [accountId, name],
      );
      return rows.length === 1 ? rows[0]!.credential_id : null;
    },

    async counts(): Promise<DiscoveredCounts[]> {
      const { rows } = await pool.query(
        `SELECT account_id, kind, count(*) FILTER (WHERE NOT managed)::int AS unmanaged,
                count(*) FILTER (WHERE expires_at IS NULL)::int AS without_expiry
           FROM discovered_credentials WHERE gone_at IS NULL GROUP BY account_id, kind ORDER BY account_id, kind`,
      );
      return rows.map((row) => ({
        accountId: row.account_id,
        kind: row.kind,
        unmanaged: row.unmanaged,
        withoutExpiry: row.without_expiry,
      }));
    },
  };
}

function toRun(row: RunRecord): DiscoveryRun {
  return {
    runId: row.run_id,
    workflowId: row.workflow_id,
    triggeredBy: row.triggered_by,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    accounts: row.accounts,
    credentials: Number(row.credentials),
    unmanaged: Number(row.unmanaged),
    withoutExpiry: Number(row.without_expiry),
    gone: Number(row.gone),
    cloudflareCalls: row.cloudflare_calls,
    skipped: row.skipped,
  };
}

export type DiscoveredCredentialsRepository = ReturnType<typeof createDiscoveredCredentialsRepository>;
