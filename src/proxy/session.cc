#include "proxy/session.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>

#include "core/error_body.h"
#include "core/forward_headers.h"
#include "proxy/background_request.h"
#include "routing/path_normalizer.h"

namespace portico::proxy {

namespace asio = boost::asio;

Session::Session(SessionEnvironment& env) : env_(env) {}

// ---------------------------------------------------------------------------------------------
// The request's life, in order.

Task<bool> Session::serve(RequestStream& request) {
  begin(request);
  prepare();  // request id, forwarded headers, client ip
  std::string_view problem;
  if (!normalize_path(problem)) {
    request.close_after();
    set_reply(400, problem, "bad_path");
    bool ok = co_await send_reply();
    complete(nullptr);
    co_return ok;
  }
  const auto* matched = route();
  bool ok = matched ? co_await run_route(*matched) : co_await send_reply();
  complete(matched);
  co_return ok;
}

// Request filters, then the action; response filters sit in writer_. A coroutine of its own
// so that serve's frame stays small enough for Asio's recycling allocator (~1 KiB).
Task<bool> Session::run_route(const CompiledRoute& route) {
  route_ = &route;
  ctx_.route_name = route.name;
  auto next = Next::Continue;
  if (!route.filters.empty()) {
    std::size_t at = 0;
    next = run_filters(route, at);
    if (next == Next::Wait) next = co_await finish_filters(route, at);
  }
  if (next == Next::Respond) co_return co_await send_reply();

  for (const auto& filter : route.filters) filter->on_upstream_request(ctx_);
  writer_.begin(false);
  switch (co_await route.action->run(ctx_, writer_)) {
    case Outcome::Answered:
      co_return true;
    case Outcome::Reply:
      // The action's own refusal or failure (502, 503, 504...): a response filter may still
      // answer instead (a cache serving a stale entry).
      co_return co_await send_reply(true);
    case Outcome::Broken:
      if (ctx_.status != 0) status_ = ctx_.status;
      co_return false;
  }
  co_return false;
}

void Session::complete(const CompiledRoute* route) {
  if (!ctx_.error_tag.empty()) error_tag_ = ctx_.error_tag;
  if (route)
    for (const auto& filter : route->filters) filter->on_complete(ctx_);
  log(route);
  if (route && ctx_.refresh_in_background)
    run_in_background(runtime_, *route, ctx_, env_.services());
}

// ---------------------------------------------------------------------------------------------
// Phases.

void Session::begin(RequestStream& request) {
  if (runtime_ != env_.runtime()) runtime_ = env_.runtime();
  stream_ = &request;
  head_ = &request.head();
  started_ = net::Clock::now();
  status_ = 0;
  error_tag_ = {};
  route_ = nullptr;
  ctx_.reset();
  request_id_.clear();
  const auto& facts = request.connection();
  auto& services = env_.services();
  ctx_.head = head_;
  ctx_.match = &match_;
  ctx_.body = &request.body();
  ctx_.peer_ip = facts.peer_ip;
  ctx_.tls = facts.tls;
  ctx_.client_cert_subject = facts.client_subject;
  ctx_.request_id_header = runtime_->config->server.request_id_header;
  ctx_.services = &services;
  ctx_.metrics = &services.metrics;
}

void Session::prepare() {
  auto& head = *head_;
  // Asked before the hop-by-hop fields go: Upgrade and Connection are among them.
  ctx_.upgrade = core::is_websocket_upgrade(head);
  core::join_repeated_fields(head.fields, joined_fields_);
  // Headers named in Connection go before any filter runs (behaviour.md "Headers").
  core::remove_hop_by_hop(head.fields);

  const auto& server = runtime_->config->server;
  auto client_id = head.find(server.request_id_header);
  if (core::is_valid_request_id(client_id))
    request_id_.assign(client_id);
  else
    env_.new_request_id(request_id_);
  const auto& facts = stream_->connection();
  client_ip_ = facts.peer_ip;
  peer_trusted_ =
      !server.trusted_proxies.empty() && is_trusted(server.trusted_proxies, facts.peer_address);
  if (peer_trusted_) {
    // Walk X-Forwarded-For from the right: the first address not of a trusted proxy is the
    // client. Peers outside trusted_proxies cannot choose their client_ip this way.
    auto xff = head.find("x-forwarded-for");
    while (!xff.empty()) {
      auto comma = xff.rfind(',');
      auto item = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      boost::system::error_code ec;
      auto address = asio::ip::make_address(item, ec);
      if (ec) break;
      client_ip_.assign(item);
      if (!is_trusted(server.trusted_proxies, address)) break;
      if (comma == std::string_view::npos) break;
      xff = xff.substr(0, comma);
    }
  }
  ctx_.request_id = request_id_;
  ctx_.client_ip = client_ip_;
  ctx_.peer_trusted = peer_trusted_;
}

bool Session::normalize_path(std::string_view& problem) {
  auto normalized = routing::normalize_path(head_->raw_path, head_->path);
  if (normalized == routing::NormalizeResult::Ok) return true;
  problem = normalized == routing::NormalizeResult::ClimbsAboveRoot ? "path climbs above the root"
                                                                    : "malformed request path";
  return false;
}

const CompiledRoute* Session::route() {
  const auto& head = *head_;
  match_ = runtime_->router->match(head);
  if (match_.status == routing::MatchStatus::MethodNotAllowed) match_preflight();
  // The gateway answers GET /health itself, unless a route claims exactly that path.
  if (head.path == "/health" && (head.method == "GET" || head.method == "HEAD") &&
      !is_exact_health_route()) {
    set_reply(200, {}, {});
    ctx_.reply.set_body(R"({"status":"healthy"})", "application/json");
    return nullptr;
  }
  switch (match_.status) {
    case routing::MatchStatus::NotFound:
      set_reply(404, {}, "no_route");
      return nullptr;
    case routing::MatchStatus::MethodNotAllowed:
      set_reply(405, {}, "method_not_allowed", {"Allow", match_.allow});
      return nullptr;
    default:
      return &runtime_->routes[match_.route_index];
  }
}

// A catch-all prefix route must not turn the gateway's liveness into a backend's.
bool Session::is_exact_health_route() const {
  if (match_.status != routing::MatchStatus::Matched) return false;
  const auto& c = *runtime_->routes[match_.route_index].config;
  return c.match.path == "/health";
}

// A CORS preflight asks about the method it names, not OPTIONS: on a route whose `methods`
// leave OPTIONS out it goes to the route that would serve that method, when that route answers
// preflights (its chain has the cors filter: first, or after the route's ip rules). Otherwise
// the 405 stands.
void Session::match_preflight() {
  auto& head = *head_;
  auto wanted = head.find("access-control-request-method");
  if (head.method != "OPTIONS" || wanted.empty() || !head.has("origin")) return;
  auto method = head.method;
  head.method = wanted;
  auto preflight = runtime_->router->match(head);
  head.method = method;
  if (preflight.status != routing::MatchStatus::Matched) return;
  const auto& filters = runtime_->routes[preflight.route_index].filters;
  auto is_cors = [](const auto& filter) { return filter->name() == "cors"; };
  if (std::any_of(filters.begin(), filters.end(), is_cors)) match_ = preflight;
}

Next Session::run_filters(const CompiledRoute& route, std::size_t& at) {
  // Most filters decide without waiting; the chain suspends only at one that asks to.
  for (at = 0; at < route.filters.size(); ++at) {
    auto next = route.filters[at]->on_request(ctx_);
    if (next != Next::Continue) return next;
  }
  return Next::Continue;
}

Task<Next> Session::finish_filters(const CompiledRoute& route, std::size_t at) {
  // route.filters[at] asked to wait: its async hook runs, then the rest of the chain.
  if (co_await route.filters[at]->on_request_async(ctx_) == Next::Respond) co_return Next::Respond;
  for (++at; at < route.filters.size(); ++at) {
    const auto& filter = *route.filters[at];
    auto next = filter.on_request(ctx_);
    if (next == Next::Wait) next = co_await filter.on_request_async(ctx_);
    if (next == Next::Respond) co_return next;
  }
  co_return Next::Continue;
}

// ---------------------------------------------------------------------------------------------
// The gateway's own answers.

Task<bool> Session::refuse(RequestStream& request, int status, std::string_view tag) {
  begin(request);
  set_reply(status, {}, tag);
  bool ok = co_await send_reply();
  complete(nullptr);
  co_return ok;
}

void Session::set_reply(int status, std::string_view message, std::string_view tag,
                        core::HeaderField extra) {
  ctx_.reply.set_error(status, message, tag, extra);
}

std::string_view Session::reply_head(const LocalReply& reply) {
  auto& head = ctx_.response;
  head.clear();
  head.status = reply.status;
  std::string_view body;
  switch (reply.body_kind) {
    case LocalReply::Body::Error:
      local_body_.clear();
      core::append_error_body(
          local_body_, reply.status,
          reply.message.empty() ? core::default_error_message(reply.status) : reply.message,
          request_id_);
      body = local_body_;
      head.add("Content-Type", "application/json");
      break;
    case LocalReply::Body::Empty:
      break;
    case LocalReply::Body::Given:
      body = reply.body;
      head.add("Content-Type", reply.content_type.empty()
                                   ? std::string_view("application/octet-stream")
                                   : std::string_view(reply.content_type));
      break;
    case LocalReply::Body::Stored:
      body = reply.stored_body;
      for (const auto& field : reply.stored_fields) head.add(field.name, field.value);
      break;
  }
  for (const auto& [name, value] : reply.headers) head.add(name, value);
  // A 304 says nothing of the length of what it stands for.
  if (reply.status != 304) head.content_length = body.size();
  return body;
}

Task<bool> Session::send_reply(bool replaceable) {
  const auto& reply = ctx_.reply;
  error_tag_ = reply.error_tag;
  if (request_id_.empty()) env_.new_request_id(request_id_);
  auto body = reply_head(reply);
  writer_.begin(!replaceable);
  writer_.start(ctx_.response);
  co_return co_await writer_.write_all(body);
}

void Session::FilteredWriter::stamp(core::ResponseHead& head) {
  auto& s = s_;
  // Added, not set: whoever made the head left the request id out (the proxy drops the
  // upstream's; local replies and respond routes never carry one).
  head.add(s.runtime_->config->server.request_id_header, s.request_id_);
  s.ctx_.status = s.status_ = head.status;
}

void Session::FilteredWriter::start(core::ResponseHead& head) {
  auto& s = s_;
  auto* answer = &head;
  stamp(*answer);
  // The route's filters see every answer's head; one may answer instead of the upstream.
  if (s.route_) {
    for (const auto& filter : s.route_->filters) {
      if (filter->on_response(s.ctx_, *answer) != Next::Respond || local_) continue;
      local_ = replaced_ = true;
      s.error_tag_ = s.ctx_.reply.error_tag;
      reply_body_ = s.reply_head(s.ctx_.reply);  // into ctx_.response
      answer = &s.ctx_.response;
      stamp(*answer);
      for (const auto& again : s.route_->filters) again->on_response(s.ctx_, *answer);
      break;
    }
  }
  s.stream_->writer().start(*answer);
}

// Not a coroutine: it hands back the codec's own write, so relaying a body costs no frame of
// its own per write.
Task<bool> Session::FilteredWriter::write(const BodyPieces& body, bool last) {
  auto& s = s_;
  const BodyPieces* pieces = &body;
  if (replaced_) {
    // The replacement's body goes once, whole; what the upstream sends is not relayed.
    filtered_.clear();
    if (!replacement_sent_) filtered_.add(reply_body_);
    last = last || !replacement_sent_;
    replacement_sent_ = true;
    pieces = &filtered_;
  } else if (s.route_ && !s.route_->filters.empty()) {
    filtered_ = body;
    BodyChunk chunk{filtered_, last};
    for (const auto& filter : s.route_->filters) filter->on_body(s.ctx_, chunk);
    pieces = &filtered_;
  }
  return s.stream_->writer().write(*pieces, last);
}

Task<bool> Session::FilteredWriter::switch_protocols(core::ResponseHead& head,
                                                     net::ByteStream& upstream,
                                                     std::chrono::milliseconds idle_timeout) {
  stamp(head);
  co_return co_await s_.stream_->writer().switch_protocols(head, upstream, idle_timeout);
}

// ---------------------------------------------------------------------------------------------
// Complete.

void Session::log(const CompiledRoute* route) {
  auto now = net::Clock::now();
  double seconds = std::chrono::duration<double>(now - started_).count();
  auto& services = env_.services();
  auto method = observability::method_from(head_->method);
  services.metrics.record_request(route ? route->metric_id : 0, method, status_, seconds);
  auto* log = env_.access_log();
  if (!log) return;
  const auto& facts = stream_->connection();
  observability::AccessLogEntry entry;
  entry.time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  entry.request_id = request_id_;
  entry.client_ip =
      client_ip_.empty() ? std::string_view(facts.peer_ip) : std::string_view(client_ip_);
  entry.method = head_->method;
  entry.protocol = head_->version == 20   ? std::string_view("HTTP/2")
                   : head_->version == 10 ? std::string_view("HTTP/1.0")
                                          : std::string_view("HTTP/1.1");
  entry.path = head_->raw_path;
  entry.query = head_->query;
  entry.route = route ? std::string_view(route->name) : std::string_view();
  entry.status = status_;
  entry.upstream = ctx_.exchange.upstream;
  entry.target = ctx_.exchange.target;
  entry.duration_ms = seconds * 1000.0;
  entry.upstream_ms = ctx_.exchange.upstream_ms;
  entry.bytes_in = stream_->bytes_in();
  entry.bytes_out = stream_->bytes_out();
  entry.error = error_tag_;
  entry.cache = ctx_.cache_result;
  entry.consumer = ctx_.identity.consumer;
  entry.retries = ctx_.exchange.retries;
  entry.calls = ctx_.exchange.calls;
  log->append(entry);
}

void Session::idle() {
  auto release = [](auto& container) {
    container.clear();
    container.shrink_to_fit();
  };
  release(joined_fields_);
  release(local_body_);
  release(ctx_.response.fields);
  ctx_.scratch.release();
  ctx_.state.release();
}

bool is_trusted(const std::vector<config::Cidr>& networks, const asio::ip::address& address) {
  std::uint8_t bytes[16];
  bool v6 = address.is_v6();
  if (v6) {
    auto b = address.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), bytes);
  } else {
    auto b = address.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes);
  }
  for (const auto& net : networks) {
    if (net.v6 != v6) continue;
    int bits = net.prefix;
    bool match = true;
    for (int i = 0; bits > 0 && match; ++i, bits -= 8) {
      std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
      match = (bytes[i] & mask) == (net.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

}  // namespace portico::proxy
