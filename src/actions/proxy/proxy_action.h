// The proxy action: forwards the request to one target of the route's upstream over a pooled
// keep-alive connection (an upstream::Exchange), streaming bodies both ways through bounded
// buffers; retries elsewhere when the upstream's `retries` allow; honours the circuit breaker
// and the retry budget; hands a 101 to the codec for a WebSocket relay.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actions/proxy/upstream_runtime.h"
#include "config/config.h"
#include "proxy/action.h"
#include "upstream/circuit_breaker.h"
#include "upstream/exchange.h"
#include "upstream/retry_budget.h"
#include "upstream/target_pools.h"

namespace portico::actions::proxy {

using portico::proxy::Outcome;
using portico::proxy::RequestContext;
using portico::proxy::ResponseWriter;

// What the proxy action knows of its route.
struct ProxyRoute {
  std::string strip_prefix;
  bool has_rewrite = false;
  std::vector<RewritePart> rewrite;
  config::HeaderList set_headers;
  std::vector<std::string> remove_headers;  // with the headers auth sets from verified claims
  config::HeaderList response_headers;
  std::optional<config::Duration> timeout;
  bool websocket = true;
  config::Duration websocket_idle_timeout{};
};

// Parses a `rewrite` template ("/v2/{id}/items", "{rest...}"). Throws std::runtime_error on an
// unclosed brace.
std::vector<RewritePart> compile_rewrite(const std::string& pattern);

class ProxyAction final : public portico::proxy::Action {
 public:
  // `upstream` is Runtime::upstreams[upstream_index]; it lives as long as the snapshot.
  ProxyAction(ProxyRoute route, std::size_t upstream_index, const UpstreamRuntime& upstream);

  std::string_view name() const override { return "proxy"; }
  boost::asio::awaitable<Outcome> run(RequestContext& ctx, ResponseWriter& writer) const override;

  // Ends the request `ctx` is running now, as if its client had gone: its pending upstream
  // read or write stops, its connection closes, nothing is retried and the attempt counts for
  // nothing (an aggregate cancelling calls it no longer needs).
  void abandon(RequestContext& ctx) const;

  // Per connection, reused request after request (RequestContext::scratch).
  struct Scratch;

 private:
  boost::asio::awaitable<Outcome> run_attempts(RequestContext& ctx, ResponseWriter& writer,
                                               Scratch& s) const;
  boost::asio::awaitable<upstream::ExchangeError> attempt(RequestContext& ctx, Scratch& s) const;
  boost::asio::awaitable<upstream::ExchangeError> send_request(RequestContext& ctx, Scratch& s,
                                                               bool may_be_stale) const;
  boost::asio::awaitable<Outcome> relay_response(RequestContext& ctx, ResponseWriter& writer,
                                                 Scratch& s) const;
  // Records the outcome of the attempt just made; true when it is to be retried.
  bool decide_retry(RequestContext& ctx, Scratch& s) const;
  std::uint64_t balancing_hash(const RequestContext& ctx) const;
  upstream::UpstreamSlot slot() const { return {upstream_index_, &upstream_}; }
  void build_upstream_head(const RequestContext& ctx, const TargetRuntime& target,
                           bool chunked_body, std::string& out) const;
  void prepare_response_head(const RequestContext& ctx, core::ResponseHead& head, bool bodyless,
                             std::optional<std::uint64_t> length) const;

  ProxyRoute route_;
  std::size_t upstream_index_;
  const UpstreamRuntime& upstream_;
};

}  // namespace portico::actions::proxy
