#!/usr/bin/env bash
# Load benchmark (make bench): nginx, haproxy and Portico, each with one worker, proxying to an
# nginx backend; wrk -t1 at -c64 and -c256, 10 s after a 3 s warm-up, peers interleaved, 3 rounds,
# medians; then RSS with 10,000 idle keep-alive connections. Portico also runs with features on,
# each row its own process compared with the plain `portico` row of the same run: portico+log,
# portico+resilience (4 targets, least_connections, circuit breaker, retries, outlier detection;
# issue 3), portico+jwt-hs256 and portico+jwt-rs256 (a JWT route, one valid token; issue 4).
# Each row's request is checked once before every timed run (200 from the backend; for the JWT
# rows 401 without the token): a row that fails is aborted and the script exits non-zero after
# writing the report. TLS listener rows (nginx+tls-listener, portico+tls-listener: TLS 1.3 with an
# ECDSA P-256 certificate made with openssl, wrk over https), handshake rows (the same processes,
# wrk -H "Connection: close" with bench/wrk_no_resume.c preloaded so no session is resumed:
# connections/s), WebSocket echo rows (ws-direct, portico+ws: bench/ws_echo.py, 16 connections of
# 64-byte ping-pong), cache and compression rows (issue 10: portico+respond, portico+cache-hit
# against the plain row; a ~10 KiB JSON body at /json10k: nginx+json10k, portico+json10k,
# nginx+gzip, portico+gzip, portico+br, portico+zstd, portico+cache-hit-10k, portico+cache-gzip-hit;
# the cache rows purge, then must answer MISS then X-Cache: HIT; the compressed ones must decode
# to the backend's body). With BENCH_BASELINE=REV (or --baseline REV) git revision REV is built in the
# worktree /tmp/portico-baseline-REV and measured as the row portico@REV, interleaved with the
# others. Then build/src/filters/jwt_auth/portico_jwt_bench (when built) runs with
# --benchmark_min_time=0.5. Writes bench/RESULTS.md.
# Knobs (environment): BENCH_ROUNDS, BENCH_DURATION, BENCH_WARMUP, BENCH_IDLE, BENCH_JWT_MICRO=0,
# BENCH_BASELINE (a git revision; default none), PORTICO_BIN.
# Extra arguments go to bench/bench.py (e.g. --conns 64 --peers nginx portico portico+jwt-hs256,
# --no-jwt-micro, --out FILE). A quick check of the plumbing:
#   bench/run.sh --rounds 1 --duration 3 --warmup 1 --conns 64 --idle 0 --no-jwt-micro \
#     --peers nginx portico portico+resilience portico+jwt-hs256 portico+jwt-rs256 --out /tmp/smoke.md
# of the cache and compression rows (issue 10):
#   bench/run.sh --rounds 1 --duration 2 --warmup 1 --conns 64 --idle 0 --no-jwt-micro \
#     --peers nginx portico portico+respond portico+cache-hit nginx+json10k portico+json10k \
#     portico+cache-hit-10k nginx+gzip portico+gzip portico+br portico+zstd portico+cache-gzip-hit \
#     --out /tmp/smoke-cache.md
# and of the A/B against a previous release:
#   bench/run.sh --rounds 1 --duration 2 --warmup 1 --conns 64 --idle 0 --no-jwt-micro \
#     --baseline 738844a --peers portico portico@738844a --out /tmp/smoke-ab.md
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in nginx haproxy wrk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: scripts/install-deps.sh --bench" >&2; exit 1; }
done
# openssl makes the RSA key pair and the RS256 token of portico+jwt-rs256 and every certificate
# (the TLS rows abort without it); cc builds bench/wrk_no_resume.c for the handshake rows.
command -v openssl >/dev/null || echo "bench: openssl missing: the JWT RS256 and TLS rows will abort" >&2
command -v cc >/dev/null || echo "bench: cc missing: the *+tls-handshake rows will abort" >&2
portico="${PORTICO_BIN:-$root/build/portico}"
[[ -x $portico ]] || { echo "bench: $portico missing: make build" >&2; exit 1; }

# 10,000 client connections plus the proxies' upstream sockets: raise the open-file limit for
# this shell and everything it starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 30000 )); then ulimit -n 65536 2>/dev/null || true; fi
echo "bench: open-file limit $(ulimit -n)"

python=/usr/bin/python3
[[ -x $python ]] || python=python3
# The WebSocket rows use the websockets library (python3-websockets) for their checks.
"$python" -c 'import websockets' 2>/dev/null ||
  echo "bench: python3-websockets missing for $python: the ws rows will abort" >&2
baseline=()
[[ -n ${BENCH_BASELINE:-} ]] && baseline=(--baseline "$BENCH_BASELINE")
exec "$python" bench/bench.py --portico "$portico" "${baseline[@]}" "$@"
