// The proxy action: forward the request to one target of the route's upstream over a pooled
// keep-alive connection, streaming bodies both ways through bounded buffers.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>

#include "core/error_body.h"
#include "core/log.h"
#include "filters/auth/credential_source.h"
#include "proxy/client_connection.h"
#include "proxy/forward_headers.h"
#include "upstream/key_hash.h"

namespace portico::proxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::string_view_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view crlf = "\r\n";

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": "sv;
  out += value;
  out += crlf;
}

bool named_in(const config::HeaderList& list, std::string_view name) {
  for (const auto& [n, v] : list)
    if (core::iequals(n, name)) return true;
  return false;
}

bool named_in(const std::vector<std::string>& list, std::string_view name) {
  for (const auto& n : list)
    if (core::iequals(n, name)) return true;
  return false;
}

// Appends `value` to a request path, percent-encoding what a path segment may not hold as is.
void append_path_escaped(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : value) {
    bool plain = std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '!' ||
                 c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' ||
                 c == '+' || c == ',' || c == ';' || c == '=' || c == ':' || c == '@';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

// True when `path` starts with `prefix` on a segment boundary.
bool has_segment_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") return false;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.back() == '/';
}

}  // namespace

void ClientConnection::build_upstream_head(const CompiledRoute& route,
                                           const routing::MatchResult& match,
                                           const TargetRuntime& target, bool chunked_body) {
  const auto& server = runtime_->config->server;
  auto& out = upstream_head_;
  out.clear();
  out += head_.method;
  out += ' ';
  if (route.has_rewrite) {
    for (const auto& part : route.rewrite) {
      if (!part.is_param)
        out += part.text;
      else if (auto identity = identity_placeholder(part.text))
        append_path_escaped(out, *identity);
      else
        out += match.params.find(part.text);
    }
    if (out.back() == ' ') out += '/';
  } else if (has_segment_prefix(head_.path, route.strip_prefix)) {
    std::string_view rest = std::string_view(head_.path).substr(route.strip_prefix.size());
    if (rest.empty() || rest.front() != '/') out += '/';
    out += rest;
  } else {
    out += head_.path;
  }
  if (head_.has_query) {
    out += '?';
    out += head_.query;  // byte for byte as the client sent it
  }
  out += " HTTP/1.1\r\n"sv;

  bool trusted =
      !server.trusted_proxies.empty() && is_trusted(server.trusted_proxies, peer_address_);
  std::string_view client_xff, client_proto, host;
  for (const auto& f : head_.fields) {
    auto name = f.name;
    if (core::iequals(name, "host")) host = f.value;
    if (core::iequals(name, "x-forwarded-for")) {
      client_xff = f.value;
      continue;
    }
    if (core::iequals(name, "x-forwarded-proto")) {
      client_proto = f.value;
      continue;
    }
    // Only the gateway vouches for a client certificate.
    if (core::iequals(name, "content-length") || core::iequals(name, "expect") ||
        core::iequals(name, "x-client-cert-subject") || core::iequals(name, "x-forwarded-host") ||
        core::iequals(name, "forwarded") || core::iequals(name, server.request_id_header) ||
        named_in(route.set_headers, name) || named_in(route.remove_headers, name) ||
        edited_by_filters(name))
      continue;
    append_header(out, name, f.value);
  }
  if (host.empty()) {
    out += "Host: "sv;
    out += target.key;
    out += crlf;
  }
  // X-Forwarded-For is appended to only when the peer is a trusted proxy; otherwise the
  // client's own claim is replaced, as are the other forwarding headers.
  out += "X-Forwarded-For: "sv;
  if (trusted && !client_xff.empty()) {
    out += client_xff;
    out += ", "sv;
  }
  out += peer_ip_;
  out += crlf;
  std::string_view proto =
      trusted && !client_proto.empty() ? client_proto : (tls_ ? "https"sv : "http"sv);
  out += "X-Forwarded-Proto: "sv;
  out += proto;
  out += crlf;
  if (!host.empty()) {
    out += "X-Forwarded-Host: "sv;
    out += host;
    out += crlf;
  }
  out += "Forwarded: for="sv;
  append_forwarded_node(out, client_ip_);
  if (!host.empty()) {
    out += ";host=\""sv;
    out += host;
    out += '"';
  }
  out += ";proto="sv;
  out += proto;
  out += crlf;
  append_header(out, server.request_id_header, request_id_);
  if (!client_subject_.empty()) append_header(out, "X-Client-Cert-Subject", client_subject_);
  if (upgrade_) out += "Connection: Upgrade\r\nUpgrade: websocket\r\n"sv;
  for (const auto& [name, value] : route.set_headers) append_header(out, name, value);
  for (const auto& f : ctx_.upstream_edits.set) append_header(out, f.name, f.value);
  if (chunked_body) {
    out += "Transfer-Encoding: chunked\r\n"sv;
  } else if (auto length = parser_->content_length(); length && *length > 0) {
    out += "Content-Length: "sv;
    append_number(out, *length);
    out += crlf;
  } else if (head_.method == "POST" || head_.method == "PUT" || head_.method == "PATCH") {
    out += "Content-Length: 0\r\n"sv;
  }
  out += crlf;
}

void ClientConnection::append_body_pieces(const http1::BodyPieces& body, bool chunked, bool last) {
  if (chunked)
    http1::append_chunk(iov_, body, last, chunk_prefix_);
  else
    for (auto piece : body.pieces) iov_.push_back(asio::buffer(piece));
}

Task<ClientConnection::After> ClientConnection::answer(const StepResult& result) {
  if (result.step == Step::Abort) {
    status_ = result.status;
    error_tag_ = result.tag;
    co_return After::Abort;
  }
  co_return co_await reply_local(result.status, result.message, result.tag);
}

void ClientConnection::end_exchange(bool reuse) {
  upstream_deadline_.disarm();  // it must never outlive the socket it guards
  auto& pool = *exchange_.pool;
  if (reuse)
    pool.give_back(std::move(exchange_.connection));
  else
    pool.discard(std::move(exchange_.connection));
  worker_.buffers().release(std::move(exchange_.buffer));
}

// Which kind of upstream failure a phase's answer is: what retries, the breaker, outlier
// detection and the outcome metric see. Empty for what is not the upstream's doing.
std::optional<upstream::AttemptFailure> ClientConnection::failure_kind(std::string_view tag) {
  using upstream::AttemptFailure;
  // A peer that fails the TLS handshake is as unreachable as one that refuses the connection.
  if (tag == "connect_failure" || tag == "upstream_tls_failed")
    return AttemptFailure::ConnectFailure;
  if (tag == "connect_timeout" || tag == "upstream_timeout") return AttemptFailure::Timeout;
  if (tag == "upstream_reset" || tag == "upstream_write_failed" || tag == "upstream_malformed")
    return AttemptFailure::Reset;
  return std::nullopt;
}

bool ClientConnection::edited_by_filters(std::string_view name) const {
  const auto& edits = ctx_.upstream_edits;
  if (edits.empty()) return false;
  for (const auto& f : edits.set)
    if (core::iequals(f.name, name)) return true;
  for (auto removed : edits.remove)
    if (core::iequals(removed, name)) return true;
  return false;
}

std::optional<std::string_view> ClientConnection::identity_placeholder(
    std::string_view name) const {
  if (name == "consumer") return std::string_view(ctx_.identity.consumer);
  if (name == "client_cert.subject") return std::string_view(client_subject_);
  if (name.starts_with("jwt.")) {
    if (const auto* claims = ctx_.identity.claims) {
      if (const auto* claim = claims->if_contains(name.substr(4)); claim && claim->is_string())
        return std::string_view(claim->get_string());
    }
    return std::string_view();
  }
  return std::nullopt;
}

std::uint64_t ClientConnection::balancing_hash(const UpstreamRuntime& upstream) {
  const auto& key = upstream.hash_key;
  std::string_view value;
  switch (key.source) {
    case HashKey::Source::None:
      return 0;
    case HashKey::Source::ClientIp:
      value = client_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(client_ip_);
      break;
    case HashKey::Source::Header:
      value = head_.find(key.name);
      break;
    case HashKey::Source::Cookie:
      value = filters::auth::cookie_value(head_.find("cookie"), key.name);
      break;
    case HashKey::Source::Claim:
      if (const auto* claims = ctx_.identity.claims) {
        if (const auto* claim = claims->if_contains(key.name); claim && claim->is_string())
          value = claim->get_string();
      }
      break;
    case HashKey::Source::Path:
      value = head_.path;
      break;
  }
  // Without a key there is nothing to keep together: spread such requests.
  if (value.empty()) return worker_.prng().next();
  return upstream::hash_bytes(value);
}

Task<ClientConnection::After> ClientConnection::proxy_action(const CompiledRoute& route,
                                                             const routing::MatchResult& match) {
  const auto& upstream = runtime_->upstreams[route.upstream];
  upstream_name_ = upstream.name;
  if (upgrade_ && !route.config->websocket)
    co_return co_await reply_local(403, "WebSocket upgrades are not allowed on this route",
                                   "websocket_disabled");
  if (upstream.targets.empty())
    co_return co_await reply_local(503, "the upstream has no targets", "no_target");

  // Body bytes that came with the head are parsed now so they leave in the same write.
  boost::system::error_code ec;
  parser_->eager(true);
  body_.clear();
  if (!parser_->is_done() && buffer_->size() > 0) {
    auto n = parser_->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
    buffer_->begin += n;
    bytes_in_ += n;
    if (ec == http::error::need_more) ec = {};
    if (ec == http::error::body_limit) co_return co_await reply_local(413, {}, "body_too_large");
    if (ec) co_return co_await reply_local(400, {}, "malformed_body");
  }

  // A body that may need to be sent again (retries) is read whole first when it fits the
  // buffer; a larger one streams as usual and is not retried.
  if (!parser_->is_done() && upstream.retry && upstream.retry->retries_method(head_.method) &&
      !parser_->expects_continue()) {
    auto kept = co_await keep_body_for_replay();
    if (kept.step != Step::Next) co_return co_await answer(kept);
  }

  for (const auto& filter : route.filters) filter->on_upstream_request(ctx_);

  // The breaker: max_requests first (refused at once, no Retry-After), then its state.
  auto& state = *upstream.state;
  auto* breaker = state.breaker();
  if (breaker && !breaker->try_begin())
    co_return co_await reply_local(503, "the upstream has too many requests in flight",
                                   "upstream_busy");
  struct InFlight {
    upstream::CircuitBreaker* breaker;
    ~InFlight() {
      if (breaker) breaker->end();
    }
  } in_flight{breaker};
  upstream::CircuitBreaker::Admission admission{.allowed = true};
  if (breaker) {
    admission = breaker->admit(upstream::Clock::now());
    if (!admission.allowed) co_return co_await refuse_circuit_open(admission.retry_after);
  }
  std::optional<upstream::RetryBudget::ActiveRequest> budget_request;
  if (auto* budget = state.retry_budget()) budget_request.emplace(budget->start_request());
  auto& attempts = exchange_.attempts;
  attempts.reset(admission);
  auto after = co_await proxy_attempts(route, match);
  attempts.retry_slot.reset();  // a retry's budget slot ends with its request
  co_return after;
}

// The attempts of one proxied request: pick a target, try it, and retry elsewhere while the
// upstream's `retries` allow. Its state lives in exchange_.attempts, not in this frame: a frame
// past Asio's recycling limit (~1 KiB) costs a malloc per request.
Task<ClientConnection::After> ClientConnection::proxy_attempts(const CompiledRoute& route,
                                                               const routing::MatchResult& match) {
  const auto& upstream = runtime_->upstreams[route.upstream];
  auto& state = *upstream.state;
  auto& a = exchange_.attempts;
  // A request whose body is all in hand can be sent again: on a fresh connection when a pooled
  // one turns out closed, or to another target when `retries` says so.
  a.replayable = parser_->is_done();
  a.may_retry = upstream.retry && a.replayable && upstream.retry->retries_method(head_.method);
  a.key_hash = balancing_hash(upstream);
  a.started = net::Clock::now();
  exchange_.buffer = worker_.buffers().acquire();
  for (;;) {
    a.index = worker_.pick_target(route.upstream, a.key_hash, a.avoid);
    const auto& target = upstream.targets[a.index];
    exchange_.upstream = &upstream;
    exchange_.target = &target;
    exchange_.pool = &worker_.pool(route.upstream, a.index);
    exchange_.request_timeout = route.timeout.value_or(upstream.timeouts.request);
    exchange_.chunked_body = parser_->chunked();
    target_key_ = target.key;

    state.target(a.index).begin_request();
    a.result = co_await attempt(route, match, a.replayable);
    state.target(a.index).end_request();
    if (a.result.step == Step::Abort) break;
    if (!decide_retry(upstream)) break;

    // The failed attempt's connection (and any response it began) is dropped, never relayed.
    ++retries_;
    upstream_deadline_.disarm();
    if (exchange_.connection) exchange_.pool->discard(std::move(exchange_.connection));
    exchange_.buffer->reset();
    a.avoid = a.index;
    co_await sleep_for(upstream.retry->backoff(retries_, worker_.prng()));
  }
  if (auto* breaker = state.breaker()) {
    // A request the client abandoned proves nothing about the upstream, unless it was a probe.
    bool success = a.result.step == Step::Abort ? !a.admission.probe : a.success;
    breaker->record(success, a.admission, upstream::Clock::now());
  }
  auto elapsed = net::Clock::now() - a.started;
  worker_.metrics().observe(upstream.duration_series,
                            std::chrono::duration<double>(elapsed).count());
  if (a.result.step != Step::Next) {
    end_exchange(false);
    co_return co_await answer(a.result);
  }
  upstream_ms_ = std::chrono::duration<double, std::milli>(elapsed).count();
  if (response_head_.status == 101) {
    // Only an upgrade the client asked for may switch the connection.
    if (upgrade_) co_return co_await relay_websocket(route);
    end_exchange(false);
    co_return co_await reply_local(502, "the upstream switched protocols unasked",
                                   "upstream_malformed");
  }
  co_return co_await relay_response(route);
}

bool ClientConnection::decide_retry(const UpstreamRuntime& upstream) {
  auto& a = exchange_.attempts;
  auto& state = *upstream.state;
  const auto& target = upstream.targets[a.index];
  const int status = a.result.step == Step::Next ? response_head_.status : 0;
  // The kind of failure, when the attempt failed in a way the upstream answers for.
  bool failed = false;
  auto kind = upstream::AttemptFailure::Reset;
  if (a.result.step != Step::Next) {
    if (auto f = failure_kind(a.result.tag)) {
      failed = true;
      kind = *f;
    }
  }
  const bool counted = a.result.step == Step::Next || failed;
  a.success = a.result.step == Step::Next && status < 500;
  if (counted && state.outlier_detector()) state.record(a.index, a.success, upstream::Clock::now());

  // A listed status is retried even when it is not a failure (429, say).
  bool retry = a.may_retry && retries_ < upstream.retry->attempts() &&
               (failed ? upstream.retry->retries(kind)
                       : a.result.step == Step::Next && upstream.retry->retries_status(status));
  if (retry && state.retry_budget()) {
    a.retry_slot.reset();
    if (auto slot = state.retry_budget()->try_start_retry()) a.retry_slot.emplace(std::move(*slot));
    retry = a.retry_slot.has_value();
  }
  auto& metrics = worker_.metrics();
  if (retry)
    metrics.count(target.retry_series);
  else if (a.success)
    metrics.count(target.success_series);
  else if (failed && kind == upstream::AttemptFailure::Timeout)
    metrics.count(target.timeout_series);
  else if (counted)
    metrics.count(target.failure_series);
  return retry;
}

Task<ClientConnection::After> ClientConnection::refuse_circuit_open(
    std::chrono::seconds retry_after) {
  auto seconds = std::to_string(retry_after.count());
  co_return co_await reply_local(503, "the upstream's circuit breaker is open", "circuit_open",
                                 {"Retry-After", seconds});
}

Task<> ClientConnection::sleep_for(std::chrono::microseconds duration) {
  asio::steady_timer timer(worker_.io(), duration);
  co_await timer.async_wait(use_tuple);
}

Task<ClientConnection::StepResult> ClientConnection::read_request_body(bool keep_pieces) {
  deadline_.arm(socket_, runtime_->limits().idle_timeout);
  auto [read_ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
  deadline_.disarm();
  if (read_ec || deadline_.fired()) co_return StepResult::abort(400, "client_body_incomplete");
  buffer_->end += n;
  if (!keep_pieces) body_.clear();
  boost::system::error_code ec;
  auto consumed = parser_->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
  buffer_->begin += consumed;
  bytes_in_ += consumed;
  if (ec == http::error::need_more) ec = {};
  if (ec == http::error::body_limit) co_return StepResult::fail(413, "body_too_large");
  if (ec) co_return StepResult::fail(400, "malformed_body");
  co_return StepResult::next();
}

Task<ClientConnection::StepResult> ClientConnection::keep_body_for_replay() {
  // Appends to what the buffer holds without compacting it: the body pieces parsed so far
  // point into it.
  while (!parser_->is_done() && buffer_->space() > 0) {
    auto read = co_await read_request_body(true);
    if (read.step != Step::Next) co_return read;
  }
  co_return StepResult::next();
}

Task<ClientConnection::StepResult> ClientConnection::attempt(const CompiledRoute& route,
                                                             const routing::MatchResult& match,
                                                             bool replayable) {
  const bool idempotent = is_idempotent(head_.method);
  for (int stale = 0;; ++stale) {
    auto opened = co_await open_connection();
    if (opened.step != Step::Next) co_return opened;
    // A pooled connection the upstream closed meanwhile is not a failure of the target:
    // the request goes again, once, on a fresh connection.
    bool can_retry = exchange_.reused && stale == 0 && replayable;
    auto sent = co_await send_request(route, match, can_retry);
    if (sent.step == Step::Next) {
      sent = co_await read_response_head(can_retry && idempotent);
      if (sent.step == Step::Next) co_return sent;
    }
    if (sent.step != Step::Retry) co_return sent;
    upstream_deadline_.disarm();
    exchange_.pool->discard(std::move(exchange_.connection));
    exchange_.buffer->reset();
  }
}

Task<ClientConnection::StepResult> ClientConnection::open_connection() {
  auto& pool = *exchange_.pool;
  const auto& timeouts = exchange_.upstream->timeouts;
  exchange_.connection = pool.take_idle();
  // A pooled connection the upstream closed would fail a request we cannot replay safely.
  if (exchange_.connection && !is_idempotent(head_.method) &&
      exchange_.connection->peer_closed_while_idle()) {
    pool.discard(std::move(exchange_.connection));
    exchange_.connection = pool.take_idle();
  }
  if (!exchange_.connection && !pool.can_open()) {
    // At max_connections: wait (up to the connect timeout) for one to come back or close.
    asio::steady_timer wait(worker_.io(), timeouts.connect);
    pool.add_waiter(wait);
    co_await wait.async_wait(use_tuple);  // cancelled (woken) or expired: look again
    pool.remove_waiter(wait);
    exchange_.connection = pool.take_idle();
    if (!exchange_.connection && !pool.can_open())
      co_return StepResult::fail(503, "pool_full", "upstream connection limit reached");
  }
  exchange_.reused = exchange_.connection != nullptr;
  if (exchange_.reused) co_return StepResult::next();

  auto& connection = exchange_.connection;
  connection = std::make_unique<upstream::UpstreamConnection>(worker_.io().get_executor());
  pool.opened();
  upstream_deadline_.arm(connection->socket, timeouts.connect);
  auto [ec] = co_await connection->socket.async_connect(exchange_.target->endpoint, use_tuple);
  upstream_deadline_.disarm();
  if (upstream_deadline_.fired())
    co_return StepResult::fail(504, "connect_timeout", "upstream connect timed out");
  if (ec) co_return StepResult::fail(502, "connect_failure");
  boost::system::error_code ignored;
  connection->socket.set_option(tcp::no_delay(true), ignored);
  if (!exchange_.target->tls) co_return StepResult::next();
  co_return co_await start_tls();
}

Task<ClientConnection::StepResult> ClientConnection::start_tls() {
  const auto& target = *exchange_.target;
  const auto& upstream = *exchange_.upstream;
  auto& connection = *exchange_.connection;
  if (!connection.start_tls(upstream.tls_context, target.tls_server_name, upstream.tls_verify,
                            exchange_.pool->tls_session()))
    co_return StepResult::fail(502, "upstream_tls_failed", "upstream TLS handshake failed");
  // The handshake is part of connecting: it shares the connect timeout.
  upstream_deadline_.arm(connection.socket, upstream.timeouts.connect);
  auto [ec] = co_await connection.handshake();
  upstream_deadline_.disarm();
  if (upstream_deadline_.fired())
    co_return StepResult::fail(504, "connect_timeout", "upstream connect timed out");
  if (ec) {
    auto reason = connection.tls_failure_reason();
    core::log_warn("upstream " + upstream.name + ": TLS handshake with " + target.key +
                   " failed: " + ec.message() + (reason.empty() ? "" : " (" + reason + ")"));
    co_return StepResult::fail(502, "upstream_tls_failed", "upstream TLS handshake failed");
  }
  co_return StepResult::next();
}

Task<ClientConnection::StepResult> ClientConnection::send_request(const CompiledRoute& route,
                                                                  const routing::MatchResult& match,
                                                                  bool can_retry) {
  auto& socket = exchange_.connection->socket;
  build_upstream_head(route, match, *exchange_.target, exchange_.chunked_body);
  iov_.clear();
  iov_.push_back(asio::buffer(upstream_head_));
  append_body_pieces(body_, exchange_.chunked_body, parser_->is_done());
  upstream_deadline_.arm(socket, exchange_.request_timeout);
  if (auto [ec, n] = co_await exchange_.connection->write(iov_); ec) {
    if (upstream_deadline_.fired()) co_return StepResult::fail(504, "upstream_timeout");
    // A keep-alive connection the upstream had closed: try a fresh one.
    if (can_retry) co_return StepResult::retry();
    co_return StepResult::fail(502, "upstream_write_failed");
  }
  if (parser_->is_done()) co_return StepResult::next();

  // curl and others wait for this before sending a large body; the gateway streams it, so it
  // can invite the body at once.
  if (parser_->expects_continue() && head_.version == 11) {
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    iov_.clear();
    iov_.push_back(asio::buffer(continue_line));
    if (!co_await write_all(socket_)) co_return StepResult::abort(400, "client_gone");
  }
  co_return co_await stream_request_body();
}

Task<ClientConnection::StepResult> ClientConnection::stream_request_body() {
  // Read a buffer's worth from the client, forward it, repeat: memory stays flat.
  auto& upstream_socket = exchange_.connection->socket;
  while (!parser_->is_done()) {
    buffer_->compact();
    auto read = co_await read_request_body(false);
    if (read.step != Step::Next) co_return read;
    iov_.clear();
    append_body_pieces(body_, exchange_.chunked_body, parser_->is_done());
    if (iov_.empty()) continue;
    upstream_deadline_.arm(upstream_socket, exchange_.request_timeout);
    if (auto [ec, n] = co_await exchange_.connection->write(iov_); ec) {
      if (upstream_deadline_.fired()) co_return StepResult::fail(504, "upstream_timeout");
      co_return StepResult::fail(502, "upstream_write_failed");
    }
  }
  co_return StepResult::next();
}

void ClientConnection::start_response_parser() {
  response_head_.clear();
  response_body_.clear();
  response_.emplace(response_head_, response_body_);
  response_->header_limit(static_cast<std::uint32_t>(exchange_.buffer->capacity - 1));
  response_->body_limit(boost::none);
  response_->eager(false);
  if (head_.method == "HEAD") response_->skip(true);
}

Task<ClientConnection::StepResult> ClientConnection::read_response_head(bool can_retry) {
  auto& buffer = *exchange_.buffer;
  auto& socket = exchange_.connection->socket;
  buffer.reset();
  start_response_parser();
  upstream_deadline_.arm(socket, exchange_.request_timeout);
  boost::system::error_code ec;
  for (;;) {
    auto [read_ec, n] =
        co_await exchange_.connection->read_some(asio::buffer(buffer.write_ptr(), buffer.space()));
    if (upstream_deadline_.fired()) co_return StepResult::fail(504, "upstream_timeout");
    if (read_ec) {
      // Closed before a single byte: the pooled connection was stale, not the request bad.
      if (can_retry && !response_->got_some() && buffer.size() == 0) co_return StepResult::retry();
      // A TLS 1.3 server judges the client certificate after the client has finished its
      // handshake, so a refusal arrives as an alert on the first read.
      if (read_ec.category() == asio::error::get_ssl_category()) {
        core::log_warn("upstream " + exchange_.upstream->name + ": TLS with " +
                       exchange_.target->key + " failed: " + read_ec.message());
        co_return StepResult::fail(502, "upstream_tls_failed", "upstream TLS handshake failed");
      }
      co_return StepResult::fail(502, "upstream_reset");
    }
    buffer.end += n;
    while (buffer.size() > 0) {
      auto used = response_->put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
      buffer.begin += used;
      if (ec == http::error::need_more) break;
      if (ec) co_return StepResult::fail(502, "upstream_malformed");
      if (!response_->is_header_done()) continue;
      // Interim 1xx answers (103 Early Hints...) are not relayed; the final one follows.
      int status = response_head_.status;
      if (status >= 100 && status < 200 && status != 101) {
        start_response_parser();
        continue;
      }
      upstream_deadline_.disarm();
      co_return StepResult::next();
    }
    buffer.compact();
    if (buffer.space() == 0) co_return StepResult::fail(502, "upstream_malformed");
  }
}

void ClientConnection::prepare_response_head(const CompiledRoute& route, bool bodyless,
                                             boost::optional<std::uint64_t> length) {
  auto& head = response_head_;
  remove_hop_by_hop(head.fields);
  // The codec writes the framing anew; an answer without a body keeps the upstream's length.
  if (!bodyless) {
    head.remove("content-length");
    if (length) head.content_length = *length;
  } else {
    head.keep_framing = true;
  }
  for (const auto& [name, value] : route.response_headers) head.set(name, value);
}

Task<ClientConnection::After> ClientConnection::relay_response(const CompiledRoute& route) {
  auto& rp = *response_;
  auto& buffer = *exchange_.buffer;
  auto& upstream_socket = exchange_.connection->socket;
  const int status = response_head_.status;
  status_ = status;
  const bool bodyless = head_.method == "HEAD" || status == 204 || status == 304;
  // Without a length, a chunked or close-delimited body goes to HTTP/1.1 clients chunked; an
  // HTTP/1.0 client learns the end from the connection closing (the codec decides).
  prepare_response_head(route, bodyless, rp.content_length());
  writer_.begin(false);
  writer_.start(response_head_);

  // Body bytes that came with the head go in the same write as the head.
  boost::system::error_code ec;
  rp.eager(true);
  response_body_.clear();
  bool upstream_ok = true;
  if (!rp.is_done() && buffer.size() > 0) {
    auto used = rp.put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
    buffer.begin += used;
    if (ec && ec != http::error::need_more) upstream_ok = false;
  }
  bool client_ok = co_await writer_.write(response_body_, rp.is_done());

  while (client_ok && upstream_ok && !rp.is_done()) {
    buffer.compact();
    upstream_deadline_.arm(upstream_socket, exchange_.request_timeout);
    auto [read_ec, n] =
        co_await exchange_.connection->read_some(asio::buffer(buffer.write_ptr(), buffer.space()));
    upstream_deadline_.disarm();
    response_body_.clear();
    // A close-delimited body ends at EOF; over TLS, many servers close without close_notify
    // (as nginx does, that is taken as the end too).
    const bool ended = read_ec == asio::error::eof || read_ec == asio::ssl::error::stream_truncated;
    if (ended && rp.need_eof()) {
      rp.put_eof(ec);
    } else if (read_ec || upstream_deadline_.fired()) {
      upstream_ok = false;
      break;
    } else {
      buffer.end += n;
      auto used = rp.put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
      buffer.begin += used;
      if (ec == http::error::need_more) ec = {};
      if (ec) {
        upstream_ok = false;
        break;
      }
    }
    client_ok = co_await writer_.write(response_body_, rp.is_done());
  }

  // Reused only when the exchange ended cleanly: whole request sent, whole response read,
  // nothing extra received, and the upstream did not ask to close.
  const bool reusable = upstream_ok && rp.is_done() && rp.keep_alive() && parser_->is_done() &&
                        buffer.size() == 0 && !rp.need_eof();
  end_exchange(reusable);
  if (!upstream_ok) error_tag_ = "upstream_body_incomplete";
  // Once any response byte reached the client, a broken exchange can only be signalled by
  // closing the connection.
  if (!client_ok || !upstream_ok) co_return After::Abort;
  co_return close_after_ ? After::Close : After::KeepAlive;
}

}  // namespace portico::proxy
