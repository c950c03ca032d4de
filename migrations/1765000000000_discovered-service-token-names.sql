-- Up Migration
-- An emergency revoke looks up the id of the service token it kills by name (one index probe, no
-- Cloudflare list before the rotate); only credentials still present are asked for.
CREATE INDEX discovered_credentials_name_idx ON discovered_credentials (account_id, kind, name) WHERE gone_at IS NULL;

-- Down Migration
DROP INDEX discovered_credentials_name_idx;
