-- Up Migration

-- The Cloudflare request budget every worker process shares, one row per Cloudflare user
-- (Cloudflare limits each user, across all of that user's tokens). Times are epoch
-- milliseconds on the database's clock, so every process reads the same time.
--   tat            GCRA theoretical arrival time: when the budget will be idle again
--   blocked_until  Cloudflare answered 429: nobody sends for this user before then
--   granted        requests taken so far: fan-outs read it to see how busy the budget is
--   cf_*           the last rate-limit headers Cloudflare sent (remaining requests in its window,
--                  when that window resets), counted down as we send, and how many requests
--                  of someone else's (dashboard, Terraform) the readings showed in that window
-- A worker that dies holds nothing here: there are no leases to leak.
CREATE TABLE cloudflare_budget (
  owner text PRIMARY KEY,
  tat double precision NOT NULL DEFAULT 0,
  blocked_until double precision NOT NULL DEFAULT 0,
  granted bigint NOT NULL DEFAULT 0,
  cf_remaining integer,
  cf_reset_at double precision,
  cf_window_ms double precision,
  cf_seen_at double precision,
  outside_in_window integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE cloudflare_budget;
