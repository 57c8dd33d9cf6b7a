#!/usr/bin/env bash
# Load benchmark (make bench): nginx, haproxy and Portico, each with one worker, proxying to an
# nginx backend; wrk -t1 at -c64 and -c256, 10 s after a 3 s warm-up, peers interleaved, 3 rounds,
# medians; then RSS with 10,000 idle keep-alive connections. Writes bench/RESULTS.md.
# Knobs (environment): BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP, BENCH_IDLE, PORTICO_BIN.
# Extra arguments go to bench/bench.py (e.g. --conns 64 --peers nginx portico).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in nginx haproxy wrk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: scripts/install-deps.sh --bench" >&2; exit 1; }
done
portico="${PORTICO_BIN:-$root/build/portico}"
[[ -x $portico ]] || { echo "bench: $portico missing: make build" >&2; exit 1; }

# 10,000 client connections plus the proxies' upstream sockets: raise the open-file limit for
# this shell and everything it starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 30000 )); then ulimit -n 65536 2>/dev/null || true; fi
echo "bench: open-file limit $(ulimit -n)"

python=/usr/bin/python3
[[ -x $python ]] || python=python3
exec "$python" bench/bench.py --portico "$portico" "$@"
