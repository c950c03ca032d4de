-- Up Migration

-- Every Access service token and API token discovery found in the inventory's accounts, managed
-- or not: one row per credential, upserted by every run. A credential a run no longer lists
-- keeps its row with `gone_at` set (an auditor asks what existed, not only what exists now).
-- Nothing here is secret: ids, names, dates and permission-group names.
CREATE TABLE discovered_credentials (
  account_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('service-token', 'account-api-token', 'user-api-token')),
  credential_id text NOT NULL,
  zone_id text,
  name text NOT NULL,
  managed boolean NOT NULL,
  inventory_name text,
  status text NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz,
  -- Permission-group names beyond the inventory's required list; null where not evaluated.
  over_privileged jsonb,
  -- API tokens: the permission-group names their policies allow (what an adoption would require).
  permissions jsonb,
  first_discovered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_discovered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_run_id text NOT NULL,
  gone_at timestamptz,
  -- The run that first missed it (a retried finish counts it once).
  gone_run_id text,
  -- The keyset key of /inventory/discovered (newest discovered first).
  position_key text GENERATED ALWAYS AS (account_id || '/' || kind || '/' || credential_id) STORED,
  PRIMARY KEY (account_id, kind, credential_id)
);
CREATE INDEX discovered_credentials_page_idx ON discovered_credentials (first_discovered_at DESC, position_key DESC);

-- One row per discovery run: what it found and what it cost in Cloudflare requests.
CREATE TABLE discovery_runs (
  run_id text PRIMARY KEY,
  workflow_id text NOT NULL,
  triggered_by text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  accounts integer NOT NULL,
  credentials integer NOT NULL,
  unmanaged integer NOT NULL,
  without_expiry integer NOT NULL,
  gone integer NOT NULL,
  cloudflare_calls integer NOT NULL,
  -- Lists token-warden's token may not read (403): their rows were left as they were.
  skipped jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX discovery_runs_finished_idx ON discovery_runs (finished_at DESC);

-- Down Migration
DROP TABLE discovery_runs;
DROP TABLE discovered_credentials;
