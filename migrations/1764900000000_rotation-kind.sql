-- Up Migration
-- API tokens rotate too: a rotation row says which kind of credential it rotated.
ALTER TABLE rotations ADD COLUMN kind text NOT NULL DEFAULT 'service-token'
  CHECK (kind IN ('service-token', 'api-token'));

-- Down Migration
ALTER TABLE rotations DROP COLUMN kind;
