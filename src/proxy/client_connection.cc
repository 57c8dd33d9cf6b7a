#include "proxy/client_connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>

#include "core/error_body.h"
#include "core/forward_headers.h"
#include "routing/path_normalizer.h"

namespace portico::proxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::string_view_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

ClientConnection::ClientConnection(Worker& worker, tcp::socket socket)
    : worker_(worker),
      socket_(std::move(socket)),
      deadline_(worker.deadlines()),
      services_{worker.io(),        worker.metrics(), worker.prng(),
                worker.deadlines(), worker.buffers(), worker} {
  worker_.add_connection(*this);
  worker_.metrics().connection_opened();
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto peer = socket_.remote_endpoint(ec);
  if (!ec) {
    auto address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped())
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    peer_address_ = address;
    peer_ip_ = address.to_string();
  }
  if (auto tls = worker_.runtime()->tls_server) {
    tls_context_ = std::move(tls);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, tls_context_->initial());
  }
}

ClientConnection::~ClientConnection() {
  worker_.metrics().connection_closed();
  worker_.remove_connection();
  if (buffer_) worker_.buffers().release(std::move(buffer_));
}

void ClientConnection::close_if_idle() {
  if (!idle_) return;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void ClientConnection::close_if_upgraded() {
  if (upgraded_) end_websocket_relay();
}

Task<bool> ClientConnection::handshake() {
  // The handshake counts against header_timeout: a client that connects and says nothing
  // holds a connection no longer than one that sends half a request head.
  deadline_.arm(socket_, worker_.runtime()->limits().header_timeout);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
  deadline_.disarm();
  if (ec || deadline_.fired()) co_return false;  // plain HTTP, old versions, no certificate...
  client_subject_ = net::verified_peer_subject(tls_->native_handle());
  co_return true;
}

Task<> ClientConnection::run() {
  if (tls_ && !co_await handshake()) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    co_return;
  }
  bool orderly = true;  // false when the client vanished or broke the protocol mid-request
  for (;;) {
    if (!buffer_ || buffer_->size() == 0) {
      if (worker_.draining()) break;
      auto next = buffer_ ? co_await wait_hot() : Wait::Cold;
      if (next == Wait::Close) break;
      if (next == Wait::Cold && !co_await wait_cold()) break;
    }
    auto after = co_await serve_request();
    if (after == After::Abort) {
      orderly = false;
      break;
    }
    if (after == After::Close || worker_.draining()) {
      co_await lingering_close();
      break;
    }
  }
  if (tls_ && orderly && !tls_closed_) co_await send_close_notify(std::chrono::milliseconds(200));
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

Task<ClientConnection::Wait> ClientConnection::wait_hot() {
  // Right after a response the next request usually follows within a round trip: reading
  // straight into the buffer we hold costs one recv, where waiting for readiness first would
  // cost an epoll_ctl too. A connection that stays quiet gives its buffer back.
  static constexpr std::chrono::milliseconds hot_wait{100};
  idle_ = true;
  buffer_->reset();
  deadline_.arm(socket_, hot_wait);
  auto [ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
  idle_ = false;
  deadline_.disarm();
  if (!ec) {
    buffer_->end += n;
    co_return Wait::Ready;
  }
  if (deadline_.fired() && ec == asio::error::operation_aborted && !worker_.draining())
    co_return Wait::Cold;
  co_return Wait::Close;
}

void ClientConnection::release_scratch() {
  auto release = [](auto& container) {
    container.clear();
    container.shrink_to_fit();
  };
  release(out_);
  release(local_body_);
  release(joined_fields_);
  release(target_);
  release(iov_);
  release(head_.fields);
  release(head_.path);
  release(body_.pieces);
  release(ctx_.response.fields);
  ctx_.scratch.release();
}

Task<bool> ClientConnection::wait_cold() {
  // A quiet keep-alive connection holds no buffer and no scratch capacity: 10,000 idle
  // connections cost little more than their sockets. The next request re-grows what it needs.
  if (buffer_) worker_.buffers().release(std::move(buffer_));
  release_scratch();
  idle_ = true;
  deadline_.arm(socket_, worker_.runtime()->limits().idle_timeout);
  bool ready = false;
  char first = 0;
  if (tls_) {
    // Not a readiness wait: the record may already sit in the TLS stream's own input (it can
    // arrive with the client's Finished), where the socket would never signal it. One byte
    // read through TLS decrypts the record; the rest of it stays pending in the session.
    auto [ec, n] = co_await tls_->async_read_some(asio::buffer(&first, 1), use_tuple);
    ready = !ec && n == 1;
  } else {
    auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
    ready = !ec;
  }
  idle_ = false;
  deadline_.disarm();
  if (!ready || deadline_.fired() || worker_.draining()) co_return false;
  buffer_ = worker_.buffers().acquire();
  if (tls_) {
    *buffer_->write_ptr() = first;
    buffer_->end += 1;
  }
  co_return true;
}

Task<> ClientConnection::send_close_notify(std::chrono::milliseconds wait) {
  // close_notify tells the client the stream ended here rather than being cut short
  // (RFC 8446 6.1). Waiting for the client's own is bounded: many clients just close.
  deadline_.arm(socket_, wait);
  co_await tls_->async_shutdown(use_tuple);
  deadline_.disarm();
}

Task<> ClientConnection::lingering_close() {
  // Reading what the client still sends before closing keeps the kernel from answering it with
  // a reset that would destroy the response we just wrote (RFC 9112 9.6). Over TLS the
  // close_notify exchange does the same: the client's answer to it ends the lingering.
  if (tls_) {
    co_await send_close_notify(std::chrono::seconds(2));
    tls_closed_ = true;
    co_return;
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  if (!buffer_) buffer_ = worker_.buffers().acquire();
  std::uint64_t discarded = 0;
  deadline_.arm(socket_, std::chrono::seconds(2));
  while (discarded < (64u << 20)) {
    buffer_->reset();
    auto [read_ec, n] = co_await socket_.async_read_some(
        asio::buffer(buffer_->write_ptr(), buffer_->space()), use_tuple);
    if (read_ec || deadline_.fired()) break;
    discarded += n;
  }
  deadline_.disarm();
  buffer_->reset();
}

Task<ClientConnection::After> ClientConnection::read_head() {
  const auto& limits = worker_.runtime()->limits();
  deadline_.arm(socket_, limits.header_timeout);
  for (;;) {
    boost::system::error_code ec;
    if (buffer_->size() > 0) {
      auto n = parser_->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
      buffer_->begin += n;
      bytes_in_ += n;
      if (!ec && parser_->is_header_done()) break;
    } else {
      ec = http::error::need_more;
    }
    if (ec && ec != http::error::need_more) {
      deadline_.disarm();
      if (ec == http::error::header_limit)
        co_return co_await reply_local(431, {}, "header_too_large");
      if (ec == http::error::body_limit) co_return co_await reply_local(413, {}, "body_too_large");
      co_return co_await reply_local(400, {}, "malformed_request");
    }
    if (buffer_->space() == 0) {
      buffer_->compact();
      if (buffer_->space() == 0) {
        deadline_.disarm();
        co_return co_await reply_local(431, {}, "header_too_large");
      }
    }
    auto [read_ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
    if (deadline_.fired()) {
      if (!parser_->got_some() && buffer_->size() == 0) co_return After::Abort;
      co_return co_await reply_local(408, {}, "header_timeout");
    }
    if (read_ec) co_return After::Abort;  // the client went away: nothing to answer
    buffer_->end += n;
  }
  deadline_.disarm();
  co_return After::KeepAlive;
}

Task<ClientConnection::After> ClientConnection::serve_request() {
  if (runtime_ != worker_.runtime()) runtime_ = worker_.runtime();
  const auto& limits = runtime_->limits();
  started_ = net::Clock::now();
  status_ = 0;
  error_tag_ = {};
  bytes_in_ = bytes_out_ = 0;
  close_after_ = false;
  route_ = nullptr;
  ctx_.reset();
  request_id_.clear();
  head_.clear();
  body_.clear();
  parser_.emplace(head_, body_);
  parser_->eager(false);
  parser_->limits(static_cast<std::uint32_t>(limits.max_header_bytes), limits.max_body_bytes);

  auto after = co_await read_head();
  if (!parser_->is_header_done()) {
    if (after == After::Abort) co_return after;
    log_request(nullptr);
    co_return After::Close;
  }
  // The request line outlives the read buffer (which body streaming reuses): own it.
  method_.assign(head_.method);
  target_.assign(head_.target);
  head_.method = method_;
  head_.target = target_;
  head_.raw_path = std::string_view(target_).substr(0, head_.raw_path.size());
  if (head_.has_query) head_.query = std::string_view(target_).substr(head_.raw_path.size() + 1);
  upgrade_ = core::is_websocket_upgrade(head_);
  prepare_request_metadata();
  if (!parser_->keep_alive()) close_after_ = true;

  auto normalized = routing::normalize_path(head_.raw_path, head_.path);
  if (normalized != routing::NormalizeResult::Ok) {
    close_after_ = true;
    after = co_await reply_local(400,
                                 normalized == routing::NormalizeResult::ClimbsAboveRoot
                                     ? "path climbs above the root"
                                     : "malformed request path",
                                 "bad_path");
    log_request(nullptr);
    co_return after;
  }

  match_ = runtime_->router->match(head_);
  if (match_.status == routing::MatchStatus::MethodNotAllowed) match_preflight();
  const auto& match = match_;
  const CompiledRoute* route = nullptr;
  if (head_.path == "/health" && (head_.method == "GET" || head_.method == "HEAD") &&
      !is_exact_health_route(match)) {
    after = co_await respond_health();
  } else if (match.status == routing::MatchStatus::NotFound) {
    after = co_await reply_local(404, {}, "no_route");
  } else if (match.status == routing::MatchStatus::MethodNotAllowed) {
    after = co_await reply_local(405, {}, "method_not_allowed", {"Allow", match.allow});
  } else {
    route = &runtime_->routes[match.route_index];
    after = co_await serve_route(*route);
  }
  log_request(route);
  co_return after;
}

// The route's filters, then its action. A coroutine of its own so that serve_request's frame
// stays small enough for Asio's recycling allocator (~1 KiB): a bigger frame is a malloc per
// request.
Task<ClientConnection::After> ClientConnection::serve_route(const CompiledRoute& route) {
  route_ = &route;
  ctx_.head = &head_;
  ctx_.match = &match_;
  ctx_.body = &request_body_;
  ctx_.peer_ip = peer_ip_;
  ctx_.peer_trusted = peer_trusted_;
  ctx_.request_id_header = runtime_->config->server.request_id_header;
  ctx_.upgrade = upgrade_;
  services_.draining = worker_.draining();
  ctx_.route_name = route.name;
  ctx_.client_ip = client_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(client_ip_);
  ctx_.metrics = &worker_.metrics();
  ctx_.services = &services_;
  ctx_.request_id = request_id_;
  ctx_.tls = tls_ != nullptr;
  ctx_.client_cert_subject = client_subject_;
  After after = After::KeepAlive;
  auto next = Next::Continue;
  if (!route.filters.empty()) {
    std::size_t at = 0;
    next = run_filters(route, at);
    if (next == Next::Wait) next = co_await finish_filters(route, at);
  }
  if (next == Next::Respond) {
    after = co_await send_reply();
  } else {
    for (const auto& filter : route.filters) filter->on_upstream_request(ctx_);
    writer_.begin(false);
    switch (co_await route.action->run(ctx_, writer_)) {
      case Outcome::Answered:
        after = close_after_ ? After::Close : After::KeepAlive;
        break;
      case Outcome::Reply:
        after = co_await send_reply();
        break;
      case Outcome::Broken:
        if (ctx_.status != 0) status_ = ctx_.status;
        after = After::Abort;
        break;
    }
    if (!ctx_.error_tag.empty()) error_tag_ = ctx_.error_tag;
  }
  complete_filters();
  co_return after;
}

// The gateway answers GET /health on the main listener itself, unless a route claims exactly
// that path: a catch-all prefix route must not turn the gateway's liveness into a backend's.
bool ClientConnection::is_exact_health_route(const routing::MatchResult& match) const {
  if (match.status != routing::MatchStatus::Matched) return false;
  const auto& c = *runtime_->routes[match.route_index].config;
  return c.match.kind == config::RouteMatch::Kind::Path && c.match.pattern == "/health";
}

Task<ClientConnection::After> ClientConnection::respond_health() {
  auto& reply = ctx_.reply;
  reply.clear();
  reply.status = 200;
  reply.set_body(R"({"status":"healthy"})", "application/json");
  co_return co_await send_reply();
}

void ClientConnection::prepare_request_metadata() {
  core::join_repeated_fields(head_.fields, joined_fields_);
  // Headers named in Connection go before any filter runs (behaviour.md "Headers").
  core::remove_hop_by_hop(head_.fields);

  const auto& server = runtime_->config->server;
  auto client_id = head_.find(server.request_id_header);
  if (core::is_valid_request_id(client_id))
    request_id_.assign(client_id);
  else
    worker_.new_request_id(request_id_);
  client_ip_ = peer_ip_;
  peer_trusted_ =
      !server.trusted_proxies.empty() && is_trusted(server.trusted_proxies, peer_address_);
  if (peer_trusted_) {
    // Walk X-Forwarded-For from the right: the first address not of a trusted proxy is the
    // client. Peers outside trusted_proxies cannot choose their client_ip this way.
    auto xff = head_.find("x-forwarded-for");
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
}

}  // namespace portico::proxy

namespace portico::proxy {

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

Task<bool> ClientConnection::write_all(tcp::socket& socket) {
  if (tls_ && &socket == &socket_) {
    // Gathered first: TLS would otherwise seal each piece in a record of its own.
    tls_staging_.clear();
    for (const auto& piece : iov_)
      tls_staging_.append(static_cast<const char*>(piece.data()), piece.size());
    co_return co_await write_to_client(asio::buffer(tls_staging_));
  }
  auto [ec, n] = co_await asio::async_write(socket, iov_, use_tuple);
  if (&socket == &socket_) bytes_out_ += n;
  co_return !ec;
}

Task<bool> ClientConnection::write_to_client(asio::const_buffer bytes) {
  auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, bytes, use_tuple)
                      : co_await asio::async_write(socket_, bytes, use_tuple);
  bytes_out_ += n;
  co_return !ec;
}

bool ClientConnection::settle_request_body() {
  // An answer made without reading the body keeps the connection only when the body is
  // already here in full; otherwise the connection closes (after a lingering read) to stay in
  // sync.
  if (!parser_ || !parser_->is_header_done()) return false;
  if (parser_->is_done()) return true;
  boost::system::error_code ec;
  parser_->eager(true);
  body_.clear();
  auto n = parser_->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
  buffer_->begin += n;
  return parser_->is_done();
}

BodyStatus ClientConnection::ClientBody::parse_buffered() {
  auto& c = c_;
  boost::system::error_code ec;
  auto consumed = c.parser_->put(asio::buffer(c.buffer_->read_ptr(), c.buffer_->size()), ec);
  c.buffer_->begin += consumed;
  c.bytes_in_ += consumed;
  if (ec == http::error::need_more) ec = {};
  if (ec == http::error::body_limit) return BodyStatus::TooLarge;
  if (ec) return BodyStatus::Malformed;
  return BodyStatus::Ok;
}

BodyStatus ClientConnection::ClientBody::take_buffered() {
  c_.parser_->eager(true);
  c_.body_.clear();
  if (c_.parser_->is_done() || c_.buffer_->size() == 0) return BodyStatus::Ok;
  return parse_buffered();
}

Task<BodyStatus> ClientConnection::ClientBody::read(bool keep) {
  auto& c = c_;
  // A kept body grows where it is: its pieces point into the buffer.
  if (!keep) c.buffer_->compact();
  c.deadline_.arm(c.socket_, c.runtime_->limits().idle_timeout);
  auto [ec, n] = co_await c.read_some(asio::buffer(c.buffer_->write_ptr(), c.buffer_->space()));
  c.deadline_.disarm();
  if (ec || c.deadline_.fired()) co_return BodyStatus::ClientGone;
  c.buffer_->end += n;
  if (!keep) c.body_.clear();
  co_return parse_buffered();
}

std::optional<std::uint64_t> ClientConnection::ClientBody::length() const {
  auto length = c_.parser_->content_length();
  if (!length) return std::nullopt;
  return *length;
}

bool ClientConnection::ClientBody::expects_continue() const {
  return c_.parser_->expects_continue() && c_.head_.version == 11;
}

Task<bool> ClientConnection::ClientBody::send_continue() {
  static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
  co_return co_await c_.write_to_client(asio::buffer(continue_line));
}

Task<ClientConnection::After> ClientConnection::reply_local(int status, std::string_view message,
                                                            std::string_view error_tag,
                                                            core::HeaderField extra) {
  auto& reply = ctx_.reply;
  reply.clear();
  reply.status = status;
  reply.message = message;
  reply.error_tag = error_tag;
  if (!extra.name.empty()) reply.add_header(extra.name, extra.value);
  co_return co_await send_reply();
}

std::string_view ClientConnection::reply_head(const LocalReply& reply) {
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
  }
  for (const auto& [name, value] : reply.headers) head.add(name, value);
  head.content_length = body.size();
  return body;
}

Task<ClientConnection::After> ClientConnection::send_reply() {
  const auto& reply = ctx_.reply;
  status_ = reply.status;
  error_tag_ = reply.error_tag;
  if (request_id_.empty()) worker_.new_request_id(request_id_);
  // After a request the gateway could not read, the connection cannot be trusted to be at the
  // start of the next one.
  if (reply.status == 400 || reply.status == 408 || reply.status == 413 || reply.status == 431)
    close_after_ = true;
  auto body = reply_head(reply);
  writer_.begin(true);
  writer_.start(ctx_.response);
  if (!co_await writer_.write_all(body)) co_return After::Abort;
  co_return close_after_ ? After::Close : After::KeepAlive;
}

void ClientConnection::ClientWriter::start(core::ResponseHead& head) {
  auto& c = c_;
  head.set(c.runtime_->config->server.request_id_header, c.request_id_);
  // The route's filters see every answer's head; one may answer instead of the upstream.
  if (c.route_) {
    for (const auto& filter : c.route_->filters) {
      if (filter->on_response(c.ctx_, head) != Next::Respond || local_) continue;
      local_ = replaced_ = true;
      c.status_ = c.ctx_.reply.status;
      c.error_tag_ = c.ctx_.reply.error_tag;
      reply_body_ = c.reply_head(c.ctx_.reply);
      head.set(c.runtime_->config->server.request_id_header, c.request_id_);
      for (const auto& again : c.route_->filters) again->on_response(c.ctx_, head);
      break;
    }
  }
  c.ctx_.status = c.status_ = head.status;
  bool closing = c.close_after_ || !c.settle_request_body();
  c.out_.clear();
  c.encoder_.encode_head(head, c.head_.version, c.head_.method == "HEAD", closing, c.out_);
  c.close_after_ = closing;
  head_pending_ = true;
}

Task<bool> ClientConnection::ClientWriter::write(const BodyPieces& body, bool last) {
  auto& c = c_;
  c.iov_.clear();
  if (head_pending_) {
    c.iov_.push_back(asio::buffer(c.out_));
    head_pending_ = false;
  }
  const BodyPieces* pieces = &body;
  if (replaced_) {
    // The replacement's body goes once, whole; what the upstream sends is not relayed.
    filtered_.clear();
    if (!reply_body_.empty()) filtered_.add(reply_body_);
    reply_body_ = {};
    if (c.iov_.empty() && filtered_.bytes == 0) co_return true;
    last = true;
    pieces = &filtered_;
  } else if (c.route_ && !c.route_->filters.empty()) {
    filtered_ = body;
    BodyChunk chunk{filtered_, last};
    for (const auto& filter : c.route_->filters) filter->on_body(c.ctx_, chunk);
    pieces = &filtered_;
  }
  c.encoder_.encode_body(*pieces, last, c.iov_);
  if (c.iov_.empty()) co_return true;
  c.deadline_.arm(c.socket_, c.runtime_->limits().idle_timeout);
  bool written = co_await c.write_all(c.socket_);
  c.deadline_.disarm();
  co_return written;
}

void ClientConnection::log_request(const CompiledRoute* route) {
  auto now = net::Clock::now();
  double seconds = std::chrono::duration<double>(now - started_).count();
  auto method = observability::method_from(head_.method);
  if (route)
    worker_.metrics().record_request(route->metric_id, method, status_, seconds);
  else
    worker_.metrics().record_request(0, method, status_, seconds);
  auto* log = worker_.access_log();
  if (!log) return;
  observability::AccessLogEntry entry;
  entry.time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  entry.request_id = request_id_;
  entry.client_ip = client_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(client_ip_);
  entry.method = head_.method;
  entry.path = head_.raw_path;
  entry.query = head_.query;
  entry.route = route ? std::string_view(route->name) : std::string_view();
  entry.status = status_;
  entry.upstream = ctx_.exchange.upstream;
  entry.target = ctx_.exchange.target;
  entry.duration_ms = seconds * 1000.0;
  entry.upstream_ms = ctx_.exchange.upstream_ms;
  entry.bytes_in = bytes_in_;
  entry.bytes_out = bytes_out_;
  entry.error = error_tag_;
  entry.consumer = ctx_.identity.consumer;
  entry.retries = ctx_.exchange.retries;
  log->append(entry);
}

Next ClientConnection::run_filters(const CompiledRoute& route, std::size_t& at) {
  // Most filters decide without waiting; the chain suspends only at one that asks to.
  for (at = 0; at < route.filters.size(); ++at) {
    auto next = route.filters[at]->on_request(ctx_);
    if (next != Next::Continue) return next;
  }
  return Next::Continue;
}

Task<Next> ClientConnection::finish_filters(const CompiledRoute& route, std::size_t at) {
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

// A CORS preflight asks about the method it names, not OPTIONS: on a route whose `methods`
// leave OPTIONS out it goes to the route that would serve that method, when that route answers
// preflights (its chain starts with the cors filter). Otherwise the 405 stands.
void ClientConnection::match_preflight() {
  auto wanted = head_.find("access-control-request-method");
  if (head_.method != "OPTIONS" || wanted.empty() || !head_.has("origin")) return;
  auto method = head_.method;
  head_.method = wanted;
  auto preflight = runtime_->router->match(head_);
  head_.method = method;
  if (preflight.status != routing::MatchStatus::Matched) return;
  const auto& filters = runtime_->routes[preflight.route_index].filters;
  if (!filters.empty() && filters.front()->name() == "cors") match_ = preflight;
}

void ClientConnection::complete_filters() {
  for (const auto& filter : route_->filters) filter->on_complete(ctx_);
}

}  // namespace portico::proxy
