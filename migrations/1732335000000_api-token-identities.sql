-- Up Migration

-- What token health learnt about each API token it checks, so the next run can skip verify:
-- the token id (verify's answer) and whether the token may read itself (then one GET carries
-- status, expiry and policies). Keyed by the value's fingerprint, never the value: a replaced
-- value misses the cache and is verified again.
CREATE TABLE api_token_identities (
  subject text PRIMARY KEY,
  fingerprint text NOT NULL,
  token_id text NOT NULL,
  kind text NOT NULL,
  self_readable boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- History reads only health rows, newest first.
CREATE INDEX api_token_checks_kind_checked_at_idx ON api_token_checks (kind, checked_at DESC);

-- Down Migration
DROP INDEX api_token_checks_kind_checked_at_idx;
DROP TABLE api_token_identities;
