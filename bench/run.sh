#!/usr/bin/env bash
# Load benchmark (make bench): nginx, haproxy and Portico, each with one worker, proxying to an
# nginx backend; wrk -t1 at -c64 and -c256, 10 s after a 3 s warm-up, peers interleaved, 3 rounds,
# medians; then RSS with 10,000 idle keep-alive connections. Portico also runs with features on,
# each row its own process compared with the plain `portico` row of the same run: portico+log,
# portico+resilience (4 targets, least_connections, circuit breaker, retries, outlier detection;
# issue 3), portico+jwt-hs256 and portico+jwt-rs256 (a JWT route, one valid token; issue 4).
# Each row's request is checked once before every timed run (200 from the backend; for the JWT
# rows 401 without the token): a row that fails is aborted and the script exits non-zero after
# writing the report. Then build/src/filters/jwt_auth/portico_jwt_bench (when built) runs with
# --benchmark_min_time=0.5. Writes bench/RESULTS.md.
# Knobs (environment): BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP, BENCH_IDLE, BENCH_JWT_MICRO=0,
# PORTICO_BIN.
# Extra arguments go to bench/bench.py (e.g. --conns 64 --peers nginx portico portico+jwt-hs256,
# --no-jwt-micro, --out FILE). A quick check of the plumbing:
#   bench/run.sh --rounds 1 --duration 3 --warmup 1 --conns 64 --idle 0 --no-jwt-micro \
#     --peers nginx portico portico+resilience portico+jwt-hs256 portico+jwt-rs256 --out /tmp/smoke.md
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in nginx haproxy wrk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: scripts/install-deps.sh --bench" >&2; exit 1; }
done
# openssl makes the RSA key pair and the RS256 token of portico+jwt-rs256 (that row aborts without it).
command -v openssl >/dev/null || echo "bench: openssl missing: the portico+jwt-rs256 row will abort" >&2
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
