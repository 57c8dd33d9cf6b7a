#include "control/dns_resolver.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace portico::control {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// getaddrinfo runs on Asio's resolver thread and cannot be interrupted, so the lookup may
// finish after its caller has given up: what it touches is shared, not on the caller's frame.
struct Lookup {
  explicit Lookup(const asio::any_io_executor& executor) : resolver(executor), timer(executor) {}
  tcp::resolver resolver;
  asio::steady_timer timer;  // the deadline; cancelled when the answer comes
  bool done = false;
  boost::system::error_code ec;
  tcp::resolver::results_type results;
};

}  // namespace

asio::awaitable<ResolveResult> resolve_all(std::string host, std::uint16_t port,
                                           std::chrono::milliseconds timeout) {
  ResolveResult out;
  try {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      out.endpoints.emplace_back(address, port);
      co_return out;
    }
    if (host.empty()) {
      out.error = "resolve failed: empty host name";
      co_return out;
    }

    auto lookup = std::make_shared<Lookup>(co_await asio::this_coro::executor);
    lookup->timer.expires_after(timeout);
    lookup->resolver.async_resolve(
        host, std::to_string(port), tcp::resolver::numeric_service,
        [lookup](const boost::system::error_code& ec, tcp::resolver::results_type results) {
          lookup->done = true;
          lookup->ec = ec;
          lookup->results = std::move(results);
          lookup->timer.cancel();
        });
    co_await lookup->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!lookup->done) {
      lookup->resolver.cancel();
      out.error = "timed out";
      co_return out;
    }
    if (lookup->ec) {
      out.error = "resolve failed: " + lookup->ec.message();
      co_return out;
    }
    for (const auto& entry : lookup->results) out.endpoints.push_back(entry.endpoint());
    std::sort(out.endpoints.begin(), out.endpoints.end());
    out.endpoints.erase(std::unique(out.endpoints.begin(), out.endpoints.end()),
                        out.endpoints.end());
    if (out.endpoints.empty()) out.error = "resolve failed: no addresses";
  } catch (const std::exception& e) {
    out.endpoints.clear();
    out.error = std::string{"resolve failed: "} + e.what();
  }
  co_return out;
}

}  // namespace portico::control
