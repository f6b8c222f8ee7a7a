#!/usr/bin/env bash
# Installs what the test ground needs on a fresh machine, and only what is missing:
# etcd, Lua and wrk from Debian's packages; the Kubernetes binaries, Prometheus
# (with promtool), helm and SeaweedFS built from their Go modules and cached by version.
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

# module_dir MODULE@VERSION: download a Go module (once) and print its directory in the cache.
module_dir() {
  local module dir
  module=$(cd "$cache" && go mod download -json "$1") || return 1
  dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$module")
  [ -d "$dir" ] && echo "$dir"
}

# go_tool NAME MODULE PACKAGE VERSION [BUILD-TAGS]: build ./PACKAGE of MODULE@VERSION into
# $cache/NAME/VERSION once, inside the module's own directory, so that its go.mod governs the
# build as in its own releases (`go install MODULE/PACKAGE@VERSION` refuses a module whose
# go.mod has replace directives, as SeaweedFS's has); a go.work shipped beside it (as
# Prometheus's, naming folders its module leaves out) is ignored, as `go install` does.
go_tool() {
  local name=$1 module=$2 package=$3 version=$4 tags=${5:-} dir="$cache/$1/$4"
  if [ ! -x "$dir/$name" ]; then
    step "building $name $version (first run on this machine)"
    mkdir -p "$dir"; local log="$cache/$name/build-$version.log" src
    src=$(module_dir "$module@$version") || fail "go mod download $module@$version"
    (cd "$src" && GOWORK=off go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$dir/$name.partial" "./$package") \
      >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "go build $module/$package@$version; log: $log"; }
    mv "$dir/$name.partial" "$dir/$name"
  fi
  step "$name: $dir/$name"
}
go_tool helm helm.sh/helm/v3 cmd/helm "$HELM_VERSION"
go_tool prometheus github.com/prometheus/prometheus cmd/prometheus "$PROMETHEUS_VERSION" remove_all_sd,enable_kubernetes_sd
go_tool promtool github.com/prometheus/prometheus cmd/promtool "$PROMETHEUS_VERSION" remove_all_sd
# The S3-compatible store the artifact-fetch tests read from (Apache-2.0; `weed mini`).
go_tool weed github.com/seaweedfs/seaweedfs weed "$SEAWEEDFS_VERSION"

# The Gateway API CRDs, standard channel, copied once from their Go module's config/crd/standard
# (the ValidatingAdmissionPolicy beside them is not a CRD and is left out).
crds="$cache/gateway-api/$GATEWAY_API_VERSION"
if [ ! -d "$crds" ]; then
  step "fetching the Gateway API CRDs $GATEWAY_API_VERSION (first run on this machine)"
  dir=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION") \
    || fail "go mod download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
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
