#!/bin/sh
# One-shot job (service temporal-namespace in docker-compose.yml): waits until the Temporal
# frontend answers as SERVING, then creates the namespace token-warden uses unless it exists.
# temporalio/server creates no namespace by itself (the retired auto-setup image did).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  [ "$attempt" -ge 60 ] && { echo "Temporal at $TEMPORAL_ADDRESS is not serving after 60 attempts" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done
if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $TEMPORAL_NAMESPACE exists"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
    --retention "${TEMPORAL_NAMESPACE_RETENTION:-30d}"
fi
