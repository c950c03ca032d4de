#!/usr/bin/env bash
# Installs what test/deploy/*.test.ts validate the deployment files with, into a cache outside
# the repository (TOKEN_WARDEN_CACHE_DIR, default ~/.cache/token-warden):
#   bin/compose-validate   tools/compose-validate, compose-go's loader (the one `docker compose` uses)
#   bin/kubeconform        kubeconform, pinned below
#   bin/temporal-sql-tool  Temporal's schema tool, of the version docker-compose.yml's admin-tools
#                          image carries, to run its schema job against a real Postgres
#   kubernetes-schemas/    Kubernetes' OpenAPI as JSON schemas, from the PyPI package
#                          kubernetes-validate, made loadable offline (rewrite-schemas.py)
# Everything comes from package registries (the Go module proxy, PyPI); a second run only
# rebuilds compose-validate, which Go's build cache makes a matter of seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

KUBECONFORM_VERSION=v0.8.0
# Keep equal to the temporalio/server and temporalio/admin-tools tags in docker-compose.yml.
TEMPORAL_SERVER_VERSION=v1.31.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest and the newest Kubernetes minor still supported upstream.
KUBERNETES_VERSIONS="1.35.0 1.37.0"

cache_dir="${TOKEN_WARDEN_CACHE_DIR:-$HOME/.cache/token-warden}"
mkdir -p "$cache_dir/bin"
log() { printf '\n== %s\n' "$*"; }

log "building compose-validate (compose-go, tools/compose-validate)"
(cd tools/compose-validate && CGO_ENABLED=0 go build -o "$cache_dir/bin/compose-validate" .)

# `kubeconform -v` says "development" when built by go install: the binary's module version tells.
built=$(go version -m "$cache_dir/bin/kubeconform" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true)
if [ "$built" != "$KUBECONFORM_VERSION" ]; then
  log "building kubeconform $KUBECONFORM_VERSION (about a minute, once per machine)"
  CGO_ENABLED=0 GOBIN="$cache_dir/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

built=$(go version -m "$cache_dir/bin/temporal-sql-tool" 2>/dev/null | awk '$1 == "mod" { print $3 }' || true)
if [ "$built" != "$TEMPORAL_SERVER_VERSION" ]; then
  log "building temporal-sql-tool $TEMPORAL_SERVER_VERSION (about 3 minutes, once per machine)"
  gobin=$(mktemp -d)
  CGO_ENABLED=0 GOBIN="$gobin" go install "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
  mv "$gobin/sql" "$cache_dir/bin/temporal-sql-tool"
  rmdir "$gobin"
fi

schemas="$cache_dir/kubernetes-schemas/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [ ! -f "$schemas/.complete" ]; then
  log "fetching Kubernetes schemas (kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI)"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary :all: --dest "$download" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  rm -rf "$schemas"
  # shellcheck disable=SC2086 # one argument per version
  python3 tools/deploy-validators/rewrite-schemas.py "$download"/kubernetes_validate-*.whl "$schemas" $KUBERNETES_VERSIONS
  touch "$schemas/.complete"
fi
