-- Up Migration

-- Which Access policies name which service tokens, per account, so a bind or an unbind edits
-- only the policies naming its token instead of listing every policy of every app first
-- (src/db/access-policy-index.ts). A hint, checked on write: every edit re-reads its policy and
-- corrects its row. `seen_at` is when a row was last written (database clock), so a full scan
-- that started earlier never overwrites what an edit recorded after it.
CREATE TABLE access_policy_index (
  account_id text NOT NULL,
  policy_id text NOT NULL,
  name text NOT NULL,
  -- Set for app-scoped policies; reusable ones are edited at the account level.
  app_id text,
  token_ids text[] NOT NULL DEFAULT '{}',
  seen_at timestamptz NOT NULL,
  PRIMARY KEY (account_id, policy_id)
);
CREATE INDEX access_policy_index_token_ids_idx ON access_policy_index USING gin (token_ids);

-- When each account's index was last rebuilt from a full scan (the scan's start).
CREATE TABLE access_policy_scans (
  account_id text PRIMARY KEY,
  scanned_at timestamptz NOT NULL
);

-- Down Migration
DROP TABLE access_policy_scans;
DROP TABLE access_policy_index;
