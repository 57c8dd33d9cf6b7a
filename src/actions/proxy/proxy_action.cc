#include "actions/proxy/proxy_action.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/forward_headers.h"
#include "http1/response_encoder.h"
#include "proxy/request_body.h"
#include "upstream/target_pools.h"

namespace portico::actions::proxy {

namespace asio = boost::asio;
using portico::proxy::BodyStatus;
using upstream::ExchangeError;
template <class T>
using Task = asio::awaitable<T>;

// A request's progress through its attempts. Lives in the connection's scratch, not in
// coroutine frames: a frame past Asio's recycling limit (~1 KiB) costs a malloc per request.
struct ProxyAction::Scratch {
  std::optional<upstream::Exchange> exchange;
  upstream::TargetAddress address;
  std::string head;  // the upstream copy of the request head
  std::vector<asio::const_buffer> iov;
  char chunk_prefix[24] = {};

  upstream::CircuitBreaker::Admission admission{.allowed = true};
  std::optional<upstream::RetryBudget::ActiveRetry> retry_slot;
  ExchangeError error = ExchangeError::None;
  BodyStatus client = BodyStatus::Ok;  // how reading the client's body went
  std::string_view client_tag;         // the access log's error when the client failed
  std::chrono::milliseconds request_timeout{};
  std::uint64_t key_hash = 0;
  std::size_t index = 0;
  std::size_t avoid = upstream::no_target;
  std::optional<asio::steady_timer> backoff;  // between attempts; abandon() cuts it short
  bool replayable = false;
  bool may_retry = false;
  bool success = false;
  bool chunked_body = false;
};

namespace {

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

Outcome reply(RequestContext& ctx, int status, std::string_view message, std::string_view tag,
              core::HeaderField extra = {}) {
  ctx.reply.set_error(status, message, tag, extra);
  return Outcome::Reply;
}

Outcome broken(RequestContext& ctx, int status, std::string_view tag) {
  ctx.status = status;
  ctx.error_tag = tag;
  return Outcome::Broken;
}

// The client's body could not be had: too large or malformed is answered, a client that went
// away is not.
Outcome body_refused(RequestContext& ctx, BodyStatus status, std::string_view gone_tag) {
  switch (status) {
    case BodyStatus::TooLarge:
      return reply(ctx, 413, {}, "body_too_large");
    case BodyStatus::Malformed:
      return reply(ctx, 400, {}, "malformed_body");
    default:
      return broken(ctx, 400, gone_tag);
  }
}

}  // namespace

std::vector<RewritePart> compile_rewrite(const std::string& pattern) {
  std::vector<RewritePart> parts;
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    auto open = pattern.find('{', pos);
    if (open == std::string::npos) {
      parts.push_back({pattern.substr(pos), false});
      break;
    }
    if (open > pos) parts.push_back({pattern.substr(pos, open - pos), false});
    auto close = pattern.find('}', open);
    if (close == std::string::npos) throw std::runtime_error("unclosed { in rewrite " + pattern);
    std::string name = pattern.substr(open + 1, close - open - 1);
    if (name.size() > 3 && name.ends_with("...")) name.resize(name.size() - 3);
    parts.push_back({name, true});
    pos = close + 1;
  }
  return parts;
}

ProxyAction::ProxyAction(ProxyRoute route, std::size_t upstream_index,
                         const UpstreamRuntime& upstream)
    : route_(std::move(route)), upstream_index_(upstream_index), upstream_(upstream) {}

Task<Outcome> ProxyAction::run(RequestContext& ctx, ResponseWriter& writer) const {
  const auto& upstream = upstream_;
  auto& services = *ctx.services;
  auto& s = ctx.scratch.get<Scratch>();
  if (!s.exchange) s.exchange.emplace(services.io, services.deadlines, services.buffers);
  ctx.exchange.upstream = upstream.name;
  if (ctx.upgrade && !route_.websocket)
    co_return reply(ctx, 403, "WebSocket upgrades are not allowed on this route",
                    "websocket_disabled");
  if (upstream.targets.empty())
    co_return reply(ctx, 503, "the upstream has no targets", "no_target");

  // Body bytes that came with the head are parsed now so they leave in the same write.
  auto& body = *ctx.body;
  if (auto status = body.take_buffered(); status != BodyStatus::Ok)
    co_return body_refused(ctx, status, "client_body_incomplete");

  // A body that may need to be sent again (retries) is read whole first when it fits the
  // buffer; a larger one streams as usual and is not retried.
  const auto method = ctx.head->method;
  if (!body.complete() && upstream.retry && upstream.retry->retries_method(method) &&
      !body.expects_continue()) {
    while (!body.complete() && body.has_room()) {
      if (auto status = co_await body.read(true); status != BodyStatus::Ok)
        co_return body_refused(ctx, status, "client_body_incomplete");
    }
  }

  // The breaker: max_requests first (refused at once, no Retry-After), then its state.
  auto& state = *upstream.state;
  auto* breaker = state.breaker();
  if (breaker && !breaker->try_begin())
    co_return reply(ctx, 503, "the upstream has too many requests in flight", "upstream_busy");
  struct InFlight {
    upstream::CircuitBreaker* breaker;
    ~InFlight() {
      if (breaker) breaker->end();
    }
  } in_flight{breaker};
  s.admission = {.allowed = true};
  if (breaker) {
    s.admission = breaker->admit(upstream::Clock::now());
    if (!s.admission.allowed) {
      auto seconds = std::to_string(s.admission.retry_after.count());
      co_return reply(ctx, 503, "the upstream's circuit breaker is open", "circuit_open",
                      {"Retry-After", seconds});
    }
  }
  std::optional<upstream::RetryBudget::ActiveRequest> budget_request;
  if (auto* budget = state.retry_budget()) budget_request.emplace(budget->start_request());
  auto outcome = co_await run_attempts(ctx, writer, s);
  s.retry_slot.reset();  // a retry's budget slot ends with its request
  co_return outcome;
}

// The attempts of one proxied request: pick a target, try it, and retry elsewhere while the
// upstream's `retries` allow.
Task<Outcome> ProxyAction::run_attempts(RequestContext& ctx, ResponseWriter& writer,
                                        Scratch& s) const {
  const auto& upstream = upstream_;
  auto& state = *upstream.state;
  auto& services = *ctx.services;
  auto& exchange = *s.exchange;
  const auto method = ctx.head->method;
  // A request whose body is all in hand can be sent again: on a fresh connection when a pooled
  // one turns out closed, or to another target when `retries` says so.
  s.replayable = ctx.body->complete();
  s.may_retry = upstream.retry && s.replayable && upstream.retry->retries_method(method);
  s.key_hash = balancing_hash(ctx);
  s.request_timeout = route_.timeout.value_or(upstream.timeouts.request);
  s.chunked_body = ctx.body->chunked();
  s.avoid = upstream::no_target;
  s.success = false;
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    s.index = services.upstreams.pick_target(slot(), s.key_hash, s.avoid);
    const auto& target = upstream.targets[s.index];
    s.address = {.pool = &services.upstreams.pool(slot(), s.index),
                 .endpoint = target.endpoint,
                 .tls_context = target.tls ? upstream.tls_context : nullptr,
                 .tls_server_name = target.tls_server_name,
                 .tls_verify = upstream.tls_verify,
                 .connect_timeout = upstream.timeouts.connect,
                 .upstream_name = upstream.name,
                 .target_key = target.key};
    ctx.exchange.target = target.key;

    state.target(s.index).begin_request();
    s.client = BodyStatus::Ok;
    s.error = co_await attempt(ctx, s);
    state.target(s.index).end_request();
    if (ctx.abandoned) s.client = BodyStatus::ClientGone;
    if (s.client == BodyStatus::ClientGone) break;
    if (!decide_retry(ctx, s)) break;

    // The failed attempt's connection (and any response it began) is dropped, never relayed.
    ++ctx.exchange.retries;
    exchange.finish(false);
    s.avoid = s.index;
    if (!s.backoff) s.backoff.emplace(services.io);
    s.backoff->expires_after(upstream.retry->backoff(ctx.exchange.retries, services.prng));
    co_await s.backoff->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ctx.abandoned) {
      s.client = BodyStatus::ClientGone;
      break;
    }
  }
  const bool client_gone = s.client == BodyStatus::ClientGone;
  if (auto* breaker = state.breaker()) {
    // A request the client abandoned proves nothing about the upstream, unless it was a probe.
    bool success = client_gone ? !s.admission.probe : s.success;
    breaker->record(success, s.admission, upstream::Clock::now());
  }
  auto elapsed = std::chrono::steady_clock::now() - started;
  services.metrics.observe(upstream.duration_series,
                           std::chrono::duration<double>(elapsed).count());
  if (s.client != BodyStatus::Ok) {
    exchange.finish(false);
    co_return body_refused(ctx, s.client, s.client_tag);
  }
  if (s.error != ExchangeError::None) {
    exchange.finish(false);
    co_return reply(ctx, upstream::error_status(s.error), upstream::error_message(s.error),
                    upstream::error_tag(s.error));
  }
  ctx.exchange.upstream_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  if (ctx.response.status == 101) {
    // Only an upgrade the client asked for may switch the connection.
    if (!ctx.upgrade) {
      exchange.finish(false);
      co_return reply(ctx, 502, "the upstream switched protocols unasked", "upstream_malformed");
    }
    prepare_response_head(ctx, ctx.response, true, std::nullopt);
    ctx.response.keep_framing = false;
    bool relayed =
        co_await writer.switch_protocols(ctx.response, exchange, route_.websocket_idle_timeout);
    exchange.finish(false);
    ctx.response.fields.clear();
    if (!relayed)
      co_return reply(ctx, 502, "the client connection cannot switch protocols",
                      "upstream_malformed");
    co_return Outcome::Broken;  // the connection ends with the relay
  }
  co_return co_await relay_response(ctx, writer, s);
}

void ProxyAction::abandon(RequestContext& ctx) const {
  auto& s = ctx.scratch.get<Scratch>();
  ctx.abandoned = true;
  s.client_tag = "abandoned";
  if (s.exchange) s.exchange->abort();
  if (s.backoff) s.backoff->cancel();
}

bool ProxyAction::decide_retry(RequestContext& ctx, Scratch& s) const {
  const auto& upstream = upstream_;
  auto& state = *upstream.state;
  const auto& target = upstream.targets[s.index];
  const bool answered = s.error == ExchangeError::None && s.client == BodyStatus::Ok;
  const int status = answered ? ctx.response.status : 0;
  // The kind of failure, when the attempt failed in a way the upstream answers for.
  std::optional<upstream::AttemptFailure> failure;
  if (s.client == BodyStatus::Ok) failure = upstream::attempt_failure(s.error);
  const bool counted = answered || failure.has_value();
  s.success = answered && status < 500;
  if (counted && state.outlier_detector()) state.record(s.index, s.success, upstream::Clock::now());

  // A listed status is retried even when it is not a failure (429, say).
  const int retries = ctx.exchange.retries;
  bool retry = s.may_retry && retries < upstream.retry->attempts() &&
               (failure ? upstream.retry->retries(*failure)
                        : answered && upstream.retry->retries_status(status));
  if (retry && state.retry_budget()) {
    s.retry_slot.reset();
    if (auto slot = state.retry_budget()->try_start_retry()) s.retry_slot.emplace(std::move(*slot));
    retry = s.retry_slot.has_value();
  }
  auto& metrics = ctx.services->metrics;
  if (retry)
    metrics.count(target.retry_series);
  else if (s.success)
    metrics.count(target.success_series);
  else if (failure == upstream::AttemptFailure::Timeout)
    metrics.count(target.timeout_series);
  else if (counted)
    metrics.count(target.failure_series);
  return retry;
}

// One attempt on the target in s.address: open (or reuse) a connection, send the request,
// read the response head.
Task<ExchangeError> ProxyAction::attempt(RequestContext& ctx, Scratch& s) const {
  auto& exchange = *s.exchange;
  const auto method = ctx.head->method;
  const bool idempotent = is_idempotent(method);
  for (int stale = 0;; ++stale) {
    auto error = co_await exchange.open(s.address, idempotent);
    if (ctx.abandoned) exchange.abort();  // it may have been opened after abandon() ran
    if (error != ExchangeError::None) co_return error;
    // A pooled connection the upstream closed meanwhile is not a failure of the target:
    // the request goes again, once, on a fresh connection.
    bool may_be_stale = exchange.reused() && stale == 0 && s.replayable;
    error = co_await send_request(ctx, s, may_be_stale);
    if (error == ExchangeError::None && s.client == BodyStatus::Ok)
      error = co_await exchange.read_head(ctx.response, method == "HEAD", s.request_timeout,
                                          may_be_stale && idempotent);
    if (error != ExchangeError::Stale || s.client != BodyStatus::Ok || ctx.abandoned)
      co_return error;
  }
}

Task<ExchangeError> ProxyAction::send_request(RequestContext& ctx, Scratch& s,
                                              bool may_be_stale) const {
  auto& exchange = *s.exchange;
  auto& body = *ctx.body;
  build_upstream_head(ctx, upstream_.targets[s.index], s.chunked_body, s.head);
  auto add_body = [&] {
    if (s.chunked_body)
      http1::append_chunk(s.iov, body.pieces(), body.complete(), s.chunk_prefix);
    else
      for (auto piece : body.pieces().pieces) s.iov.push_back(asio::buffer(piece));
  };
  s.iov.clear();
  s.iov.push_back(asio::buffer(s.head));
  add_body();
  auto sent = exchange.try_send(s.iov, may_be_stale);
  auto error = sent ? *sent : co_await exchange.send_rest(s.request_timeout, may_be_stale);
  if (error != ExchangeError::None) co_return error;
  if (body.complete()) co_return ExchangeError::None;

  // curl and others wait for this before sending a large body; the gateway streams it, so it
  // can invite the body at once.
  if (body.expects_continue() && !co_await body.send_continue()) {
    s.client = BodyStatus::ClientGone;
    s.client_tag = "client_gone";
    co_return ExchangeError::None;
  }
  // Read a buffer's worth from the client, forward it, repeat: memory stays flat.
  while (!body.complete()) {
    if (auto status = co_await body.read(false); status != BodyStatus::Ok) {
      s.client = status;
      s.client_tag = "client_body_incomplete";
      co_return ExchangeError::None;
    }
    s.iov.clear();
    add_body();
    if (s.iov.empty()) continue;
    if (auto error = co_await exchange.send(s.iov, s.request_timeout, false);
        error != ExchangeError::None)
      co_return error == ExchangeError::Stale ? ExchangeError::WriteFailed : error;
  }
  co_return ExchangeError::None;
}

void ProxyAction::prepare_response_head(const RequestContext& ctx, core::ResponseHead& head,
                                        bool bodyless, std::optional<std::uint64_t> length) const {
  core::remove_hop_by_hop(head.fields);
  // One pass drops what the gateway writes itself: the framing (the codec writes it anew; an
  // answer without a body keeps the upstream's length), the request id (the session stamps
  // its own) and the fields the route's response_headers replace.
  std::erase_if(head.fields, [&](const core::HeaderField& f) {
    if (!bodyless && core::iequals(f.name, "content-length")) return true;
    if (core::iequals(f.name, ctx.request_id_header)) return true;
    for (const auto& [name, value] : route_.response_headers)
      if (core::iequals(f.name, name)) return true;
    return false;
  });
  if (bodyless)
    head.keep_framing = true;
  else
    head.content_length = length;
  for (const auto& [name, value] : route_.response_headers) head.add(name, value);
}

Task<Outcome> ProxyAction::relay_response(RequestContext& ctx, ResponseWriter& writer,
                                          Scratch& s) const {
  auto& exchange = *s.exchange;
  const int status = ctx.response.status;
  const bool bodyless = ctx.head->method == "HEAD" || status == 204 || status == 304;
  // Without a length, a chunked or close-delimited body goes to HTTP/1.1 clients chunked; an
  // HTTP/1.0 client learns the end from the connection closing (the codec decides).
  prepare_response_head(ctx, ctx.response, bodyless, exchange.content_length());
  writer.start(ctx.response);

  const auto* body = &exchange.buffered_body();
  bool upstream_ok = !exchange.body_failed();
  bool client_ok = co_await writer.write(*body, exchange.body_done());
  while (client_ok && upstream_ok && !exchange.body_done() && writer.wants_body()) {
    body = co_await exchange.read_body(s.request_timeout);
    if (exchange.body_failed()) {
      upstream_ok = false;
      break;
    }
    client_ok = co_await writer.write(*body, exchange.body_done());
  }
  // Reused only when the whole request went and the whole answer came (a body nobody wants
  // any more is not read to its end: the connection closes instead).
  exchange.finish(upstream_ok && ctx.body->complete());
  // The head's views pointed into the exchange's buffer, which is gone.
  ctx.response.fields.clear();
  if (!writer.wants_body()) co_return client_ok ? Outcome::Answered : Outcome::Broken;
  if (!upstream_ok) ctx.error_tag = "upstream_body_incomplete";
  // Once any response byte reached the client, a broken exchange can only be signalled by
  // closing the connection.
  if (!client_ok || !upstream_ok) co_return Outcome::Broken;
  co_return Outcome::Answered;
}

}  // namespace portico::actions::proxy
