// The proxy action: forward the request to one target of the route's upstream over a pooled
// keep-alive connection, streaming bodies both ways through bounded buffers.
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>

#include "core/error_body.h"
#include "proxy/client_connection.h"
#include "proxy/forward_headers.h"

namespace portico::proxy {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view crlf = "\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

// A pooled connection the peer has already closed reads as EOF without blocking.
bool peer_closed(tcp::socket& socket) {
  char byte;
  auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
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
    for (const auto& part : route.rewrite)
      out += part.is_param ? match.params.find(part.text) : std::string_view(part.text);
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
  out += " HTTP/1.1\r\n";

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
    if (core::iequals(name, "content-length") || core::iequals(name, "expect") ||
        core::iequals(name, "x-forwarded-host") || core::iequals(name, "forwarded") ||
        core::iequals(name, server.request_id_header) || named_in(route.set_headers, name) ||
        named_in(route.remove_headers, name))
      continue;
    out += name;
    out += ": ";
    out += f.value;
    out += crlf;
  }
  if (host.empty()) {
    out += "Host: ";
    out += target.key;
    out += crlf;
  }
  // X-Forwarded-For is appended to only when the peer is a trusted proxy; otherwise the
  // client's own claim is replaced, as are the other forwarding headers.
  out += "X-Forwarded-For: ";
  if (trusted && !client_xff.empty()) {
    out += client_xff;
    out += ", ";
  }
  out += peer_ip_;
  out += crlf;
  std::string_view proto = trusted && !client_proto.empty() ? client_proto : "http";
  out += "X-Forwarded-Proto: ";
  out += proto;
  out += crlf;
  if (!host.empty()) {
    out += "X-Forwarded-Host: ";
    out += host;
    out += crlf;
  }
  out += "Forwarded: for=";
  append_forwarded_node(out, client_ip_);
  if (!host.empty()) {
    out += ";host=\"";
    out += host;
    out += '"';
  }
  out += ";proto=";
  out += proto;
  out += crlf;
  out += server.request_id_header;
  out += ": ";
  out += request_id_;
  out += crlf;
  for (const auto& [name, value] : route.set_headers) {
    out += name;
    out += ": ";
    out += value;
    out += crlf;
  }
  if (chunked_body) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (auto length = parser_->content_length(); length && *length > 0) {
    out += "Content-Length: ";
    append_number(out, *length);
    out += crlf;
  } else if (head_.method == "POST" || head_.method == "PUT" || head_.method == "PATCH") {
    out += "Content-Length: 0\r\n";
  }
  out += crlf;
}

void ClientConnection::append_body_pieces(const http1::BodyPieces& body, bool chunked, bool last) {
  if (chunked && body.bytes > 0) {
    auto [end, ec] =
        std::to_chars(chunk_prefix_, chunk_prefix_ + sizeof chunk_prefix_ - 2, body.bytes, 16);
    *end++ = '\r';
    *end++ = '\n';
    iov_.push_back(asio::buffer(chunk_prefix_, static_cast<std::size_t>(end - chunk_prefix_)));
  }
  for (auto piece : body.pieces) iov_.push_back(asio::buffer(piece));
  if (chunked && body.bytes > 0) iov_.push_back(asio::buffer(crlf));
  if (chunked && last) iov_.push_back(asio::buffer(last_chunk));
}

Task<ClientConnection::After> ClientConnection::proxy_action(const CompiledRoute& route,
                                                             const routing::MatchResult& match) {
  const auto& upstream = runtime_->upstreams[route.upstream];
  const auto& limits = runtime_->limits();
  upstream_name_ = upstream.name;
  if (upstream.targets.empty())
    co_return co_await reply_local(503, "the upstream has no targets", "no_target");
  auto target_index = worker_.pick_target(route.upstream);
  const auto& target = upstream.targets[target_index];
  target_key_ = target.key;
  auto& pool = worker_.pool(route.upstream, target_index);
  auto request_timeout = route.timeout.value_or(upstream.timeouts.request);
  bool chunked_body = parser_->chunked();

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
  const bool body_in_hand = parser_->is_done();  // replayable on a fresh connection
  const bool idempotent = is_idempotent(head_.method);

  auto& upstream_deadline = upstream_deadline_;
  std::unique_ptr<upstream::UpstreamConnection> connection;
  auto upstream_started = net::Clock::now();
  auto buffer = worker_.buffers().acquire();
  auto& response = response_;
  auto release = [&](bool reuse) {
    upstream_deadline.disarm();  // it must never outlive the socket it guards
    if (reuse)
      pool.give_back(std::move(connection));
    else
      pool.discard(std::move(connection));
    worker_.buffers().release(std::move(buffer));
  };

  for (int attempt = 0;; ++attempt) {
    upstream_deadline.disarm();  // a retry discarded the connection it guarded
    connection = pool.take_idle();
    if (connection && !idempotent && peer_closed(connection->socket)) {
      pool.discard(std::move(connection));
      connection = pool.take_idle();
    }
    const bool reused = connection != nullptr;
    if (!connection && !pool.can_open()) {
      // At max_connections: wait (up to the connect timeout) for one to come back or close.
      asio::steady_timer wait(worker_.io(), upstream.timeouts.connect);
      pool.add_waiter(wait);
      auto [wait_ec] = co_await wait.async_wait(use_tuple);
      pool.remove_waiter(wait);
      connection = pool.take_idle();
      if (!connection && !pool.can_open()) {
        release(false);
        co_return co_await reply_local(503, "upstream connection limit reached", "pool_full");
      }
    }
    if (!connection) {
      connection = std::make_unique<upstream::UpstreamConnection>(worker_.io().get_executor());
      pool.opened();
      upstream_deadline.arm(connection->socket, upstream.timeouts.connect);
      auto [connect_ec] = co_await connection->socket.async_connect(target.endpoint, use_tuple);
      upstream_deadline.disarm();
      if (connect_ec || upstream_deadline.fired()) {
        bool timed_out = upstream_deadline.fired();
        release(false);
        if (timed_out)
          co_return co_await reply_local(504, "upstream connect timed out", "connect_timeout");
        co_return co_await reply_local(502, {}, "connect_failure");
      }
      boost::system::error_code ignored;
      connection->socket.set_option(tcp::no_delay(true), ignored);
    }

    build_upstream_head(route, match, target, chunked_body);
    iov_.clear();
    iov_.push_back(asio::buffer(upstream_head_));
    append_body_pieces(body_, chunked_body, parser_->is_done());
    upstream_deadline.arm(connection->socket, request_timeout);
    bool sent = co_await write_all(connection->socket);
    bool can_retry = reused && attempt == 0 && body_in_hand;
    if (!sent && !upstream_deadline.fired()) {
      if (can_retry) {
        pool.discard(std::move(connection));
        continue;  // a keep-alive connection the upstream had closed
      }
      release(false);
      co_return co_await reply_local(502, {}, "upstream_write_failed");
    }

    if (!parser_->is_done() && parser_->expects_continue() && head_.version == 11) {
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      iov_.clear();
      iov_.push_back(asio::buffer(continue_line));
      if (!co_await write_all(socket_)) {
        release(false);
        co_return After::Abort;
      }
    }
    // Stream the rest of the request body: read a buffer's worth, forward it, repeat.
    while (!parser_->is_done()) {
      buffer_->compact();
      deadline_.arm(socket_, limits.idle_timeout);
      auto [read_ec, n] = co_await socket_.async_read_some(
          asio::buffer(buffer_->write_ptr(), buffer_->space()), use_tuple);
      deadline_.disarm();
      if (read_ec || deadline_.fired()) {
        release(false);
        status_ = 400;
        error_tag_ = "client_body_incomplete";
        co_return After::Abort;
      }
      buffer_->end += n;
      body_.clear();
      auto consumed = parser_->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
      buffer_->begin += consumed;
      bytes_in_ += consumed;
      if (ec == http::error::need_more) ec = {};
      if (ec) {
        release(false);
        if (ec == http::error::body_limit)
          co_return co_await reply_local(413, {}, "body_too_large");
        co_return co_await reply_local(400, {}, "malformed_body");
      }
      iov_.clear();
      append_body_pieces(body_, chunked_body, parser_->is_done());
      if (iov_.empty()) continue;
      upstream_deadline.arm(connection->socket, request_timeout);
      if (!co_await write_all(connection->socket)) {
        bool timed_out = upstream_deadline.fired();
        release(false);
        if (timed_out) co_return co_await reply_local(504, {}, "upstream_timeout");
        co_return co_await reply_local(502, {}, "upstream_write_failed");
      }
    }

    // Read the response head; 1xx interim responses are skipped.
    response_head_.clear();
    response_body_.clear();
    buffer->reset();
    response.emplace(response_head_, response_body_);
    response->header_limit(static_cast<std::uint32_t>(buffer->capacity - 1));
    response->body_limit(boost::none);
    response->eager(false);
    if (head_.method == "HEAD") response->skip(true);
    upstream_deadline.arm(connection->socket, request_timeout);
    bool head_done = false, retry = false;
    const char* failure = nullptr;
    while (!head_done) {
      auto [read_ec, n] = co_await connection->socket.async_read_some(
          asio::buffer(buffer->write_ptr(), buffer->space()), use_tuple);
      if (upstream_deadline.fired()) {
        failure = "upstream_timeout";
        break;
      }
      if (read_ec) {
        if (can_retry && !response->got_some() && buffer->size() == 0 && idempotent) retry = true;
        failure = "upstream_reset";
        break;
      }
      buffer->end += n;
      while (buffer->size() > 0) {
        auto used = response->put(asio::buffer(buffer->read_ptr(), buffer->size()), ec);
        buffer->begin += used;
        if (ec == http::error::need_more) {
          ec = {};
          break;
        }
        if (ec) break;
        if (response->is_header_done()) {
          if (response_head_.status >= 100 && response_head_.status < 200 &&
              response_head_.status != 101) {
            response_head_.clear();
            response.emplace(response_head_, response_body_);
            response->header_limit(static_cast<std::uint32_t>(buffer->capacity - 1));
            response->body_limit(boost::none);
            response->eager(false);
            if (head_.method == "HEAD") response->skip(true);
            continue;
          }
          head_done = true;
          break;
        }
      }
      if (ec) {
        failure = "upstream_malformed";
        break;
      }
      if (!head_done) {
        buffer->compact();
        if (buffer->space() == 0) {
          failure = "upstream_malformed";
          break;
        }
      }
    }
    if (retry) {
      pool.discard(std::move(connection));
      buffer->reset();
      continue;
    }
    if (failure) {
      release(false);
      if (std::string_view(failure) == "upstream_timeout")
        co_return co_await reply_local(504, {}, failure);
      co_return co_await reply_local(502, {}, failure);
    }
    break;
  }
  upstream_deadline.disarm();
  upstream_ms_ =
      std::chrono::duration<double, std::milli>(net::Clock::now() - upstream_started).count();

  // The response head toward the client.
  auto& rp = *response;
  const int status = response_head_.status;
  status_ = status;
  const bool bodyless = head_.method == "HEAD" || status == 204 || status == 304;
  const auto length = rp.content_length();
  bool reframe = false;
  if (!bodyless && !length) {
    if (head_.version == 11)
      reframe = true;  // chunked, or close-delimited, becomes chunked
    else
      close_after_ = true;
  }
  const auto& server = runtime_->config->server;
  remove_hop_by_hop(response_head_.fields);
  out_.clear();
  out_ += "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  auto reason = core::reason_phrase(status);
  out_ += reason == "Unknown" ? response_head_.reason : reason;
  out_ += crlf;
  for (const auto& f : response_head_.fields) {
    if ((!bodyless && core::iequals(f.name, "content-length")) ||
        core::iequals(f.name, server.request_id_header) || named_in(route.response_headers, f.name))
      continue;
    out_ += f.name;
    out_ += ": ";
    out_ += f.value;
    out_ += crlf;
  }
  for (const auto& [name, value] : route.response_headers) {
    out_ += name;
    out_ += ": ";
    out_ += value;
    out_ += crlf;
  }
  out_ += server.request_id_header;
  out_ += ": ";
  out_ += request_id_;
  out_ += crlf;
  if (!bodyless && length) {
    out_ += "Content-Length: ";
    append_number(out_, *length);
    out_ += crlf;
  } else if (reframe) {
    out_ += "Transfer-Encoding: chunked\r\n";
  }
  if (close_after_) out_ += "Connection: close\r\n";
  out_ += crlf;

  // Body bytes that came with the head go in the same write as the head.
  rp.eager(true);
  response_body_.clear();
  bool upstream_ok = true;
  if (!rp.is_done() && buffer->size() > 0) {
    auto used = rp.put(asio::buffer(buffer->read_ptr(), buffer->size()), ec);
    buffer->begin += used;
    if (ec && ec != http::error::need_more) upstream_ok = false;
  }
  iov_.clear();
  iov_.push_back(asio::buffer(out_));
  append_body_pieces(response_body_, reframe, rp.is_done());
  deadline_.arm(socket_, limits.idle_timeout);
  bool client_ok = co_await write_all(socket_);
  deadline_.disarm();

  while (client_ok && upstream_ok && !rp.is_done()) {
    buffer->compact();
    upstream_deadline.arm(connection->socket, request_timeout);
    auto [read_ec, n] = co_await connection->socket.async_read_some(
        asio::buffer(buffer->write_ptr(), buffer->space()), use_tuple);
    upstream_deadline.disarm();
    response_body_.clear();
    if (read_ec == asio::error::eof && rp.need_eof()) {
      rp.put_eof(ec);
    } else if (read_ec || upstream_deadline.fired()) {
      upstream_ok = false;
      break;
    } else {
      buffer->end += n;
      auto used = rp.put(asio::buffer(buffer->read_ptr(), buffer->size()), ec);
      buffer->begin += used;
      if (ec == http::error::need_more) ec = {};
      if (ec) {
        upstream_ok = false;
        break;
      }
    }
    iov_.clear();
    append_body_pieces(response_body_, reframe, rp.is_done());
    if (iov_.empty()) continue;
    deadline_.arm(socket_, limits.idle_timeout);
    client_ok = co_await write_all(socket_);
    deadline_.disarm();
  }

  const bool reusable = upstream_ok && rp.is_done() && rp.keep_alive() && parser_->is_done() &&
                        buffer->size() == 0 && !rp.need_eof();
  release(reusable);
  if (!upstream_ok) error_tag_ = "upstream_body_incomplete";
  // Once any response byte reached the client, a broken exchange can only be signalled by
  // closing the connection.
  if (!client_ok || !upstream_ok) co_return After::Abort;
  co_return close_after_ ? After::Close : After::KeepAlive;
}

}  // namespace portico::proxy
