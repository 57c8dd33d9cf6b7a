#!/usr/bin/env bash
# Installs the Debian packages Portico's build, tests and benchmarks need, when missing.
# Idempotent: a machine that has everything is left untouched (no apt-get at all).
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev clang-format
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libyaml-cpp-dev libre2-dev libssl-dev zlib1g-dev libmimalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev libvalijson-dev
  libhiredis-dev libbrotli-dev libzstd-dev libdeflate-dev libnghttp2-dev
)
test_packages=(
  curl openssl procps python3 python3-pytest python3-requests python3-websockets
  json-schema-test-suite
  redis-server redis-tools python3-brotli python3-zstandard python3-h2 nghttp2-client
)
bench_packages=(
  nginx-light wrk haproxy golang-go golang-github-gin-gonic-gin-dev
)

want=("${build_packages[@]}" "${test_packages[@]}")
case "${1:-}" in
  --bench) want+=("${bench_packages[@]}") ;;
  --all) want+=("${bench_packages[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0 $*)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged nginx starts itself on port 80; the benchmark runs its own instances.
if systemctl is-active --quiet nginx 2>/dev/null; then systemctl stop nginx || true; fi
pkill -x nginx 2>/dev/null || true
