#!/usr/bin/env bash
# Regenerate what is derived from crds/ and the chart: the chart's copy of the CRDs
# (charts/modelkeeper/crds/) and manifests/install.yaml (the chart rendered with its
# defaults, CRDs included, for `kubectl apply --server-side -f manifests/install.yaml`).
# Usage: tools/render-manifests.sh [--check]
#   --check writes nothing and exits 1 with a diff when a file is stale (tests run it).
# helm: $HELM, else the ground's build (make deps), else helm on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MODELKEEPER_CACHE:-$HOME/.cache/modelkeeper}"
ground_helm="$cache/helm/$(sed -n 's/^HELM_VERSION=//p' tests/ground/tools/versions.env)/helm"
helm="${HELM:-$ground_helm}"
[ -x "$helm" ] || helm="$(command -v helm)"

render_install() {
  echo "# Modelkeeper, rendered from charts/modelkeeper with its default values by"
  echo "# tools/render-manifests.sh. Do not edit: change the chart and run the script."
  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: modelkeeper-system\n'
  "$helm" template modelkeeper charts/modelkeeper \
    --namespace modelkeeper-system --include-crds --kube-version 1.34.4
}

if [ "${1:-}" = "--check" ]; then
  stale=0
  diff -r crds charts/modelkeeper/crds || stale=1
  diff -u manifests/install.yaml <(render_install) || stale=1
  if [ "$stale" = 1 ]; then
    echo "stale: run tools/render-manifests.sh" >&2
  fi
  exit "$stale"
fi
rm -f charts/modelkeeper/crds/*.yaml
cp crds/*.yaml charts/modelkeeper/crds/
render_install > manifests/install.yaml
echo "wrote charts/modelkeeper/crds/ and manifests/install.yaml"
