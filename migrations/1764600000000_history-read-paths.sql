-- Up Migration

-- Every history list is newest first and pages by keyset: (time, unique key) descending, the
-- key breaking ties between rows of the same microsecond. Each index below serves one list in
-- exactly that order, so a page is an index range read of `limit` rows: no scan, no sort.
-- Those they replace had no tie-breaker, so a page had to sort.

-- /tokens/history, /tokens/status, /api-tokens/checks: one kind of check, newest first. Health
-- checks are most rows, and the planner may read them off the second index (skipping the few
-- verify runs); verify runs are rare, and the first finds them without reading past health
-- rows. The second also serves pruning by age.
CREATE INDEX api_token_checks_kind_checked_idx ON api_token_checks (kind, checked_at DESC, id DESC);
CREATE INDEX api_token_checks_checked_idx ON api_token_checks (checked_at DESC, id DESC);
DROP INDEX api_token_checks_kind_checked_at_idx;
DROP INDEX api_token_checks_checked_at_idx;

-- What /tokens/history answers from: the run's timestamp and seed summary, without the full
-- report (several KB per row, TOASTed) that only /tokens/status and /metrics read, one row at a time.
ALTER TABLE api_token_checks
  ADD COLUMN history_entry jsonb GENERATED ALWAYS AS (CASE WHEN kind = 'health' THEN results - 'report' END) STORED;

-- /rotations with no filter, ?account_id=, ?token=, and both (also each token's last rotation).
-- With a few accounts the planner reads ?account_id= off the first, filtering; the second
-- serves an account among many. The first also serves pruning by age.
CREATE INDEX rotations_started_idx ON rotations (started_at DESC, run_id DESC);
CREATE INDEX rotations_account_started_idx ON rotations (account_id, started_at DESC, run_id DESC);
CREATE INDEX rotations_name_started_idx ON rotations (token_name, started_at DESC, run_id DESC);
CREATE INDEX rotations_token_started_idx ON rotations (account_id, token_name, started_at DESC, run_id DESC);
DROP INDEX rotations_token_idx;

-- Down Migration
CREATE INDEX rotations_token_idx ON rotations (account_id, token_name, started_at DESC);
DROP INDEX rotations_token_started_idx;
DROP INDEX rotations_name_started_idx;
DROP INDEX rotations_account_started_idx;
DROP INDEX rotations_started_idx;
ALTER TABLE api_token_checks DROP COLUMN history_entry;
CREATE INDEX api_token_checks_checked_at_idx ON api_token_checks (checked_at DESC);
CREATE INDEX api_token_checks_kind_checked_at_idx ON api_token_checks (kind, checked_at DESC);
DROP INDEX api_token_checks_checked_idx;
DROP INDEX api_token_checks_kind_checked_idx;
