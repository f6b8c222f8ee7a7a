#!/usr/bin/env bash
# Installs what the test ground needs on a fresh machine, and only what is missing:
# etcd, Lua and wrk from Debian's packages; the Kubernetes binaries, Prometheus
# (with promtool) and helm built from their Go modules and cached by version.
# Debian's prometheus is built without Kubernetes service discovery, which the
# ground needs, so Prometheus comes from its Go module too.
# Usage: install-deps.sh CACHE_DIR
set -euo pipefail
cache=${1:?usage: install-deps.sh CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"

step() { echo "install-deps: $*" >&2; }
fail() { echo "install-deps: FAILED: $*" >&2; exit 1; }

# Debian packages: program -> package.
declare -A packages=([etcd]=etcd-server [lua5.4]=lua5.4 [wrk]=wrk [unshare]=util-linux [flock]=util-linux
  [podman]=podman [buildah]=buildah [containerd]=containerd [runc]=runc [debootstrap]=debootstrap
  [iptables]=iptables [/usr/lib/cni/bridge]=containernetworking-plugins)
missing=()
for program in "${!packages[@]}"; do
  command -v "$program" >/dev/null || missing+=("${packages[$program]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  step "installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null || fail "apt-get not found; install ${missing[*]} by hand"
  log="$cache/apt.log"; mkdir -p "$cache"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "apt-get could not install ${missing[*]}; log: $log"; }
fi

command -v go >/dev/null || fail "Go is not installed: the Kubernetes binaries and helm are built from source (need Go >= 1.24)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

kube=$("$here/build-kube.sh" "$cache") || fail "building Kubernetes (see the message above)"
step "Kubernetes binaries: $kube"

# go_tool NAME PACKAGE VERSION [BUILD-TAGS]: `go install` into $cache/NAME/VERSION once.
go_tool() {
  local name=$1 package=$2 version=$3 tags=${4:-} dir="$cache/$1/$3"
  if [ ! -x "$dir/$name" ]; then
    step "building $name $version (first run on this machine)"
    mkdir -p "$dir"; local log="$cache/$name/build-$version.log"
    GOBIN="$dir" go install -trimpath -tags "$tags" -ldflags "-s -w" "$package@$version" >"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; fail "go install $package@$version; log: $log"; }
  fi
  step "$name: $dir/$name"
}
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_tool prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_VERSION" remove_all_sd,enable_kubernetes_sd
go_tool promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" remove_all_sd

# The Gateway API CRDs, standard channel, copied once from their Go module's config/crd/standard
# (the ValidatingAdmissionPolicy beside them is not a CRD and is left out).
crds="$cache/gateway-api/$GATEWAY_API_VERSION"
if [ ! -d "$crds" ]; then
  step "fetching the Gateway API CRDs $GATEWAY_API_VERSION (first run on this machine)"
  module=$(cd "$cache" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION") \
    || fail "go mod download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION: $module"
  dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$module")
  [ -d "$dir/config/crd/standard" ] || fail "no config/crd/standard in sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
  mkdir -p "$crds.partial"
  install -m 0644 "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$crds.partial/"
  rm -f "$crds.partial"/*_vap_*.yaml
  mv "$crds.partial" "$crds"
fi
step "Gateway API CRDs: $crds"

# The ground's container images (Debian base, Modelkeeper, test model, testbox, pause), built
# offline with podman and saved as docker-archives under the cache, rebuilt when their inputs change.
root=$(cd "$here/../../.." && pwd)
step "container images (the first build on a machine takes about 5 minutes)"
(cd "$root" && MODELKEEPER_CACHE="$cache" "$root/.venv/bin/python" -m tests.ground.imagebuild >&2) \
  || fail "building the container images (see the message above)"
