-- Up Migration

-- How many 429 answers Cloudflare has given this user's requests, ever: /metrics exposes it as
-- a counter, so an alert sees a 429 even when its block ended between two scrapes.
ALTER TABLE cloudflare_budget ADD COLUMN rate_limited bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE cloudflare_budget DROP COLUMN rate_limited;
