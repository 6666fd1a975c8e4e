#!/usr/bin/env bash
# Release Maestro to Kubernetes in the zero-downtime order (docs/deployment.md):
#
#   scripts/k8s_deploy.sh deploy/kubernetes/overlays/example
#
#   1. Delete the previous release's migration Job (a Job's pod template cannot change).
#   2. Apply everything except Maestro's Deployments: the new ConfigMap and Secret (new hashed names, so running pods
#      keep theirs), PgBouncer if the overlay has it, and the migration Job, which runs migrate_schemas with the new
#      image while the old pods serve. Migrations must therefore be backward compatible with the running release
#      (add before use, remove a release after the code stopped using it).
#   3. Wait for the Job; stop here if it failed (the old release keeps serving).
#   4. Apply the rest: web rolls one surge pod at a time and only ready pods get traffic; workers finish their running
#      tasks (warm shutdown; an interrupted task is redelivered); beat is replaced (Recreate: never two).
#   5. Wait for each rollout.
# NAMESPACE defaults to the overlay's "namespace:"; MIGRATE_TIMEOUT (seconds) to 1800.
set -euo pipefail

OVERLAY="${1:?usage: scripts/k8s_deploy.sh OVERLAY_DIR}"
NAMESPACE="${NAMESPACE:-$(sed -n 's/^namespace:[[:space:]]*//p' "$OVERLAY/kustomization.yaml" | head -n 1)}"
NAMESPACE="${NAMESPACE:-default}"
MIGRATE_TIMEOUT="${MIGRATE_TIMEOUT:-1800}"
WORKLOADS="web,worker,mlworker,beat"
say() { printf '[k8s-deploy] %s\n' "$*"; }

say "1/5 removing the previous migration Job"
kubectl -n "$NAMESPACE" delete job maestro-migrate --ignore-not-found --wait=true

say "2/5 configuration, secrets and the migration Job"
kubectl apply -k "$OVERLAY" -l "app.kubernetes.io/component notin ($WORKLOADS)"

say "3/5 waiting for migrate_schemas (up to ${MIGRATE_TIMEOUT}s)"
deadline=$((SECONDS + MIGRATE_TIMEOUT))
while :; do
  state="$(kubectl -n "$NAMESPACE" get job maestro-migrate -o jsonpath='{.status.conditions[?(@.status=="True")].type}')"
  case "$state" in
    *Complete*) break ;;
    *Failed*) say "migration failed; the running release is untouched. kubectl -n $NAMESPACE logs job/maestro-migrate"; exit 1 ;;
  esac
  [ "$SECONDS" -lt "$deadline" ] || { say "migration did not finish in ${MIGRATE_TIMEOUT}s"; exit 1; }
  sleep 5
done

say "4/5 rolling out web, workers and beat"
kubectl apply -k "$OVERLAY"

say "5/5 waiting for the rollouts"
for deployment in maestro-web maestro-worker maestro-mlworker maestro-beat; do
  kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout=15m
done
say "done"
