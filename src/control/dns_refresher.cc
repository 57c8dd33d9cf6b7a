#include "control/dns_refresher.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "control/dns_resolver.h"
#include "core/log.h"

namespace portico::control {

namespace asio = boost::asio;
using core::log_info;
using core::log_warn;

namespace {

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

DnsRefresher::DnsRefresher(asio::io_context& io, Hooks hooks) : io_(io), hooks_(std::move(hooks)) {}

void DnsRefresher::start() {
  asio::co_spawn(io_, run(), asio::detached);
}

// Every dns_refresh is the shortest any upstream with a hostname asks for. A recompile keeps
// the state of upstreams whose addresses did not change (see compile_runtime); requests in
// flight finish on the old snapshot.
asio::awaitable<void> DnsRefresher::run() {
  asio::steady_timer timer(io_);
  while (!stopped_) {
    auto snapshot = hooks_.serving();
    auto every = std::chrono::milliseconds::max();
    bool any_name = false;
    for (const auto& target : snapshot.targets) {
      if (is_ip_literal(target.host)) continue;
      any_name = true;
      every = std::min(every, target.refresh);
    }
    // Without hostnames, look again later: a reload may bring some.
    if (!any_name) every = std::chrono::milliseconds(30000);
    timer.expires_after(std::max(every, std::chrono::milliseconds(100)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!any_name || stopped_ || snapshot.id != hooks_.serving().id) continue;
    bool moved = co_await any_moved(snapshot);
    if (!moved || snapshot.id != hooks_.serving().id) continue;
    hooks_.recompile();
  }
}

asio::awaitable<bool> DnsRefresher::any_moved(const Snapshot& snapshot) {
  bool moved = false;
  for (const auto& target : snapshot.targets) {
    if (is_ip_literal(target.host)) continue;
    auto found = co_await resolve_all(target.host, target.port, std::chrono::milliseconds(2000));
    if (!found.error.empty() || found.endpoints.empty()) {
      log_warn("dns: " + target.host + ": " + (found.error.empty() ? "no addresses" : found.error) +
               "; keeping " + target.endpoint.address().to_string());
      continue;
    }
    if (std::find(found.endpoints.begin(), found.endpoints.end(), target.endpoint) ==
        found.endpoints.end()) {
      log_info("dns: " + target.key + " moved from " + target.endpoint.address().to_string() +
               " to " + found.endpoints.front().address().to_string());
      moved = true;
    }
  }
  co_return moved;
}

}  // namespace portico::control
