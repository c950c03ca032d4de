#!/bin/sh
# One-shot job (service temporal-schema in docker-compose.yml): creates Temporal's databases in
# Postgres when they are missing and brings both schemas to the version this admin-tools image
# ships, so the temporalio/server of the same version finds them ready. Every step is idempotent
# (an existing database is kept, applied versions are skipped): it runs on every `up`, and after
# an image upgrade it applies the new schema versions. The connection comes from SQL_PLUGIN,
# SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD (temporal-sql-tool reads them); the database
# names from DBNAME and VISIBILITY_DBNAME, as temporalio/server reads them (same defaults).
set -eu
for store in temporal visibility; do
  database=${DBNAME:-temporal}
  [ "$store" = visibility ] && database=${VISIBILITY_DBNAME:-temporal_visibility}
  temporal-sql-tool --db "$database" create-database
  temporal-sql-tool --db "$database" setup-schema -v 0.0
  temporal-sql-tool --db "$database" update-schema --schema-name "postgresql/v12/$store"
done
echo "Temporal schemas are up to date"
