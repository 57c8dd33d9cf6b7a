// The admin listener: /health, /ready, /metrics, /admin/*, and the dashboard page.
// Runs on the io_context it is given (the server's loop), off the request path; it reaches the
// server only through AdminHooks, which are called on that loop. What the hooks answer for
// /admin/routes and /admin/upstreams is in routes_view.h and upstreams_view.h.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace portico::admin {

struct ReloadOutcome {
  bool ok = false;
  std::uint64_t version = 0;        // config version now serving
  std::vector<std::string> errors;  // file:line:column messages when !ok
};

struct AdminHooks {
  std::function<bool()> ready;                    // false while starting or draining
  std::function<std::string()> metrics;           // Prometheus text
  std::function<boost::json::value()> routes;     // GET /admin/routes
  std::function<boost::json::value()> upstreams;  // GET /admin/upstreams
  std::function<boost::json::value()> config;     // GET /admin/config (secrets masked)
  std::function<ReloadOutcome()> reload;          // POST /admin/reload
  // GET /admin/stats (404 when unset): a JSON object of numbers the dashboard shows as cards,
  // e.g. {"config_version":3,"workers":4,"uptime_seconds":120}.
  std::function<boost::json::value()> stats;
  // DELETE /admin/cache?prefix=/path: purges the entries whose path starts with the prefix and
  // says how many (runs on the admin's io_context; a Redis store answers asynchronously).
  // Unset: nothing is cached, so nothing is purged.
  std::function<boost::asio::awaitable<std::size_t>(std::string prefix)> purge_cache;
};

class AdminServer {
 public:
  // Binds at construction (throws std::system_error when the address is taken).
  AdminServer(boost::asio::io_context& io, const config::Endpoint& listen, std::string token,
              AdminHooks hooks);
  ~AdminServer();
  void start();  // begins accepting on `io`
  void stop();   // closes the acceptor; open connections finish their current request
  void set_token(std::string token);  // after a reload
  unsigned short port() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace portico::admin
