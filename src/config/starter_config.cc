// The file `portico init` writes: small, commented, and valid with nothing else set up.
#include "config/config_loader.h"

namespace portico::config {

std::string_view starter_config() {
  static constexpr std::string_view kStarter =
      R"yaml(# portico.yaml - a starter configuration written by `portico init`.
# Check it with `portico validate -c portico.yaml`; start with `portico run -c portico.yaml`.
# Values may use ${VAR} or ${VAR:-default} to read environment variables.

server:
  listen: [0.0.0.0:8080]        # one or more host:port addresses
  workers: auto                 # event-loop threads; auto = one per CPU core
  limits:
    max_header_bytes: 16KiB     # larger request heads are answered 431
    max_body_bytes: 10MiB       # larger bodies are answered 413
  drain_timeout: 15s            # on SIGTERM: finish in-flight requests for up to this long

admin:
  listen: 127.0.0.1:9901        # /health, /ready, /metrics, /admin/* and the dashboard
  token: ${ADMIN_TOKEN:-}       # when set, /admin/* needs `Authorization: Bearer <token>`

upstreams:
  app:                          # a named pool of backends; routes refer to it by name
    targets: [http://127.0.0.1:3000]
    timeouts:
      connect: 2s
      request: 30s              # no response within this -> 504

routes:
  - name: ping                  # answered by the gateway itself
    match: {path: /ping, methods: [GET]}
    respond: {status: 200, body: "pong", headers: {Content-Type: text/plain}}

  - name: api                   # everything under /api goes to the app upstream
    match: {prefix: /api}
    upstream: app
    strip_prefix: /api          # /api/users/7 reaches the backend as /users/7

observability:
  access_log: {path: stdout, format: json}
  log_level: info               # trace | debug | info | warn | error | off
)yaml";
  return kStarter;
}

}  // namespace portico::config
