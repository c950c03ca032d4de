-- Up Migration

-- Who or what asked for something: API client, schedule, signal, expiry sweep.
CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  subject text,
  workflow_id text,
  run_id text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_workflow_idx ON audit_events (workflow_id);

-- One row per API-token check run (verify or health check), written by the run itself.
CREATE TABLE api_token_checks (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL UNIQUE,
  workflow_id text NOT NULL,
  kind text NOT NULL,
  checked_at timestamptz NOT NULL DEFAULT now(),
  triggered_by text NOT NULL,
  overall_health text NOT NULL,
  auto_heal_attempted boolean NOT NULL DEFAULT false,
  auto_heal_success boolean,
  results jsonb NOT NULL
);
CREATE INDEX api_token_checks_checked_at_idx ON api_token_checks (checked_at DESC);

-- One row per rotation run; steps below it. Fingerprints only, never values.
CREATE TABLE rotations (
  run_id text PRIMARY KEY,
  workflow_id text NOT NULL,
  account_id text NOT NULL,
  token_name text NOT NULL,
  strategy text NOT NULL,
  mode text NOT NULL,
  triggered_by text NOT NULL,
  status text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  outcome jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX rotations_token_idx ON rotations (account_id, token_name, started_at DESC);

CREATE TABLE rotation_steps (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES rotations (run_id) ON DELETE CASCADE,
  seq integer NOT NULL,
  step text NOT NULL,
  outcome text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  UNIQUE (run_id, seq)
);

-- Secrets between issue and finish (AWSPENDING-style), AES-256-GCM encrypted at rest.
CREATE TABLE pending_secrets (
  ref uuid PRIMARY KEY,
  account_id text NOT NULL,
  token_name text NOT NULL,
  stage text NOT NULL,
  key_id text NOT NULL,
  ciphertext bytea NOT NULL,
  fingerprint text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_secrets_token_idx ON pending_secrets (account_id, token_name, stage);

-- Down Migration
DROP TABLE pending_secrets;
DROP TABLE rotation_steps;
DROP TABLE rotations;
DROP TABLE api_token_checks;
DROP TABLE audit_events;
