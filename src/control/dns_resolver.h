// Looks a host name up once, with a deadline; the upstream code calls it every `dns_refresh`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace portico::control {

struct ResolveResult {
  std::string error;  // empty on success: "timed out", "resolve failed: <reason>"
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // sorted (IPv4 first), no duplicates
};

// An IP literal ("10.0.0.1", "::1") is returned as is, without a lookup. Runs on the awaiting
// coroutine's executor, which must be single-threaded (the control plane's). Never throws.
boost::asio::awaitable<ResolveResult> resolve_all(std::string host, std::uint16_t port,
                                                  std::chrono::milliseconds timeout);

}  // namespace portico::control
