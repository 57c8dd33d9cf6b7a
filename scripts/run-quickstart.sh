#!/usr/bin/env bash
# Starts the three demo services (127.0.0.1:8081-8083) and Portico in the foreground with
# examples/quickstart.yaml. Ctrl-C stops the gateway; the services are stopped by PID on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python=/usr/bin/python3
[[ -x $python ]] || python=python3
portico="${PORTICO_BIN:-$root/build/portico}"
config="${PORTICO_CONFIG:-$root/examples/quickstart.yaml}"
if [[ ! -x $portico ]]; then
  echo "run-quickstart: $portico not found; run 'make build' first" >&2
  exit 1
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for spec in gateway:8080 admin:9901; do
  if port_busy "${spec##*:}"; then
    echo "run-quickstart: 127.0.0.1:${spec##*:} (the ${spec%%:*} listener) is already in use" >&2
    exit 1
  fi
done
for spec in users:8081 orders:8082 products:8083; do
  name=${spec%%:*} port=${spec##*:}
  if port_busy "$port"; then
    echo "run-quickstart: 127.0.0.1:$port is already in use (needed by the $name service)" >&2
    exit 1
  fi
  "$python" examples/backends/demo_backend.py "$name" --port "$port" &
  pids+=($!)
done
for port in 8081 8082 8083; do
  for _ in $(seq 50); do port_busy "$port" && break; sleep 0.1; done
done

cat <<'TRY'

Portico quickstart: gateway on http://127.0.0.1:8080, admin on http://127.0.0.1:9901
Try, in another terminal:
  curl -i http://127.0.0.1:8080/ping
  curl -i http://127.0.0.1:8080/api/v1/users
  curl -i http://127.0.0.1:8080/api/v1/users/2
  curl -si http://127.0.0.1:8080/api/v1/users/2 | grep -iE '^(x-cache|age):'           # HIT, from the cache
  curl -i 'http://127.0.0.1:8080/api/v1/orders?user_id=1'                          # 401: needs a key
  curl -i -H 'X-API-Key: demo-key' 'http://127.0.0.1:8080/api/v1/orders?user_id=1'
  curl -s http://127.0.0.1:8080/api/v1/dashboard/1        # user, orders, product: one answer
  curl -s http://127.0.0.1:9901/admin/upstreams                                     # health, breaker
  curl -i http://127.0.0.1:8080/api/v1/nothing-here        # 404 with a JSON error body
  for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:8080/api/v1/products; done; echo   # the burst of 10, then 429
  curl -s http://127.0.0.1:9901/metrics | grep portico_requests_total
Ctrl-C stops everything.

TRY

# Not exec: the EXIT trap must outlive the gateway to stop the services.
"$portico" run -c "$config" &
gw=$!
trap 'kill -TERM $gw 2>/dev/null || true' INT TERM
set +e
wait "$gw"; status=$?
# A signal interrupts the first wait; wait again for the gateway's own drain and exit.
if kill -0 "$gw" 2>/dev/null; then wait "$gw"; status=$?; fi
exit "$status"
