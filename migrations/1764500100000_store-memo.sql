-- Up Migration

-- What propagation stores remember between calls, shared by every worker process: the ids of
-- Secrets Store secrets (key: the store's label and the secret's name), so a write edits by id
-- without listing first. A cache: a stale or missing row only costs the store one list.
-- Ids and names only, never a secret.
CREATE TABLE store_memo (
  key text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE store_memo;
