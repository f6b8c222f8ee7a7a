#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubelet
# from the k8s.io/kubernetes Go module pinned in tests/ground/kube/go.mod and
# caches them by version, so that only the first run on a machine compiles.
#
# One change, made to a copy of the module's source that a Go workspace swaps in: endpoint
# addresses in 127.64.0.0/10 pass validation. Upstream refuses every loopback address in
# Endpoints and EndpointSlices; the integration tier's router test lists fake backends,
# local processes on such addresses, in EndpointSlices it writes by hand. 127.0.0.1 itself
# is still refused. (The real node's pods have addresses on its bridge and need no change.)
# Usage: build-kube.sh CACHE_DIR    (prints the folder holding the binaries)
set -euo pipefail
cache=${1:?usage: build-kube.sh CACHE_DIR}
here=$(cd "$(dirname "$0")/../kube" && pwd)
version=$(sed -n -E "s@^\s*(require )?k8s.io/kubernetes (v[0-9.]+)( // indirect)?\s*\$@\2@p" "$here/go.mod")
[ -n "$version" ] || { echo "build-kube: no k8s.io/kubernetes version in $here/go.mod" >&2; exit 1; }
ground_patch=ground2   # bump when the overlay changes, so the cache is rebuilt
out="$cache/kube/$version-$ground_patch"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

have_all() { for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done; }
if have_all; then echo "$out"; exit 0; fi

# One build at a time per cache: a second caller waits, then finds the binaries.
mkdir -p "$cache/kube"
exec 9>"$cache/kube/.lock"
flock 9
if have_all; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "build-kube: Go is not installed (need Go >= 1.24 to build Kubernetes $version)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
log="$cache/kube/build-$version.log"
mkdir -p "$out.partial"

# The one change: a patched copy of k8s.io/kubernetes, swapped in by a Go workspace.
(cd "$here" && go mod download k8s.io/kubernetes) || { echo "build-kube: cannot download k8s.io/kubernetes $version" >&2; exit 1; }
work="$cache/kube/src-$version"
rm -rf "$work"; mkdir -p "$work"
cp -r "$(cd "$here" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)" "$work/kubernetes"
chmod -R u+w "$work/kubernetes"
validation="$work/kubernetes/pkg/apis/core/validation/validation.go"
sed -i 's/^\tif ip.IsLoopback() {$/\tif ip.IsLoopback() \&\& !(ip.To4() != nil \&\& ip.To4()[1]\&0xC0 == 64) { \/\/ test ground: 127.64.0.0\/10 is the pod range/' "$validation"
[ "$(grep -c 'test ground: 127.64.0.0/10' "$validation")" = 1 ] \
  || { echo "build-kube: the endpoint-validation change no longer applies to $validation" >&2; exit 1; }
printf 'go 1.24.0\n\nuse %s\n\nreplace k8s.io/kubernetes %s => %s\n' "$here" "$version" "$work/kubernetes" > "$work/go.work"
export GOWORK="$work/go.work"
echo "build-kube: compiling Kubernetes $version (first run on this machine; 10-25 minutes on two cores); log: $log" >&2
(
  cd "$here"
  for b in "${binaries[@]}"; do
    echo "== $b" 
    go build -trimpath -ldflags "-s -w $ldflags" -o "$out.partial/$b" "k8s.io/kubernetes/cmd/$b" || exit 1
  done
) >"$log" 2>&1 || { echo "build-kube: go build failed; see $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
rm -rf "$out" "$work"; mv "$out.partial" "$out"
echo "$out"
