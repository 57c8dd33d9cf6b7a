#include "http1/server_connection.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include "net/write_now.h"

namespace portico::http1 {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using proxy::BodyStatus;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

ServerConnection::ServerConnection(ServerEnvironment& env, tcp::socket socket,
                                   std::shared_ptr<net::TlsServerContext> tls,
                                   proxy::RequestHandler& handler, Http2Handoff& http2)
    : env_(env),
      handler_(handler),
      http2_(http2),
      socket_(std::move(socket)),
      tls_context_(std::move(tls)),
      deadline_(env.deadlines()) {
  env_.metrics().connection_opened();
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto peer = socket_.remote_endpoint(ec);
  if (!ec) {
    auto address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped())
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    facts_.peer_address = address;
    facts_.peer_ip = address.to_string();
  }
  if (tls_context_) {
    tls_ = std::make_unique<net::TlsStream>(socket_, tls_context_->initial().native_handle());
    facts_.tls = true;
  }
}

ServerConnection::~ServerConnection() {
  env_.metrics().connection_closed();
  if (buffer_) env_.buffers().release(std::move(buffer_));
}

void ServerConnection::close_if_idle() {
  if (!idle_) return;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void ServerConnection::close_if_upgraded() {
  if (upgraded_) end_relay();
}

Task<bool> ServerConnection::handshake() {
  // The handshake counts against header_timeout: a client that connects and says nothing
  // holds a connection no longer than one that sends half a request head.
  deadline_.arm(socket_, env_.limits().header_timeout);
  auto [ec] = co_await tls_->handshake();
  deadline_.disarm();
  if (ec || deadline_.fired()) co_return false;  // plain HTTP, old versions, no certificate...
  facts_.client_subject = net::verified_peer_subject(tls_->native_handle());
  co_return true;
}

Task<> ServerConnection::run() {
  if (tls_ && !co_await handshake()) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    co_return;
  }
  bool orderly = true;  // false when the client vanished or broke the protocol mid-request
  if (tls_ && env_.http2().enabled && net::negotiated_h2(tls_->native_handle())) {
    co_await serve_http2();
    orderly = false;  // HTTP/2 said goodbye in its own frames
  }
  while (!upgraded_to_h2_) {
    if (!buffer_ || buffer_->size() == 0) {
      if (env_.draining()) break;
      auto next = buffer_ ? co_await wait_hot() : Wait::Cold;
      if (next == Wait::Close) break;
      if (next == Wait::Cold) {
        // Waited for here rather than in a coroutine of its own: an idle connection then holds
        // one coroutine frame less.
        go_quiet();
        bool ready = false;
        char first = 0;
        if (tls_) {
          // Not a readiness wait: the record may already sit in the TLS stream's own input (it
          // can arrive with the client's Finished), where the socket would never signal it. One
          // byte read through TLS decrypts the record; the rest stays pending in the session.
          auto [ec, n] = co_await tls_->read_some(asio::buffer(&first, 1));
          ready = !ec && n == 1;
        } else {
          auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
          ready = !ec;
        }
        if (!wake(ready, first)) break;
      }
    }
    auto after = co_await serve_request();
    if (after == After::Http2) {
      co_await serve_http2();
      break;
    }
    if (after == After::Abort) {
      orderly = false;
      break;
    }
    if (after == After::Close || env_.draining()) {
      co_await lingering_close();
      break;
    }
  }
  if (tls_ && orderly && !tls_closed_) co_await send_close_notify(std::chrono::milliseconds(200));
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

Task<ServerConnection::Wait> ServerConnection::wait_hot() {
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
  if (deadline_.fired() && ec == asio::error::operation_aborted && !env_.draining())
    co_return Wait::Cold;
  co_return Wait::Close;
}

void ServerConnection::release_scratch() {
  rq_.reset();
  handler_.idle();
}

void ServerConnection::go_quiet() {
  // A quiet keep-alive connection holds no buffer and no scratch capacity: 10,000 idle
  // connections cost little more than their sockets. The next request re-grows what it needs.
  if (buffer_) env_.buffers().release(std::move(buffer_));
  release_scratch();
  idle_ = true;
  deadline_.arm(socket_, env_.limits().idle_timeout);
}

bool ServerConnection::wake(bool ready, char first) {
  idle_ = false;
  deadline_.disarm();
  if (!ready || deadline_.fired() || env_.draining()) return false;
  buffer_ = env_.buffers().acquire();
  if (tls_) {
    *buffer_->write_ptr() = first;
    buffer_->end += 1;
  }
  return true;
}

Task<> ServerConnection::send_close_notify(std::chrono::milliseconds wait) {
  // close_notify tells the client the stream ended here rather than being cut short
  // (RFC 8446 6.1). Waiting for the client's own is bounded: many clients just close.
  deadline_.arm(socket_, wait);
  co_await tls_->shutdown();
  deadline_.disarm();
  tls_closed_ = true;
}

Task<> ServerConnection::lingering_close() {
  // Reading what the client still sends before closing keeps the kernel from answering it with
  // a reset that would destroy the response we just wrote (RFC 9112 9.6). Over TLS the
  // close_notify exchange does the same: the client's answer to it ends the lingering.
  if (tls_) {
    co_await send_close_notify(std::chrono::seconds(2));
    co_return;
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  if (!buffer_) buffer_ = env_.buffers().acquire();
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

Task<ServerConnection::After> ServerConnection::read_head() {
  const auto& limits = env_.limits();
  auto refuse = [&](int status, std::string_view tag) {
    rq_->refusal = {status, tag};
    return After::Close;
  };
  deadline_.arm(socket_, limits.header_timeout);
  std::size_t head_start = buffer_->begin;
  for (;;) {
    boost::system::error_code ec;
    if (buffer_->size() > 0) {
      auto n = rq_->parser->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
      buffer_->begin += n;
      bytes_in_ += n;
      if (!ec && rq_->parser->is_header_done()) {
        rq_->head_bytes = std::string_view(buffer_->data + head_start, buffer_->begin - head_start);
        break;
      }
    } else {
      ec = http::error::need_more;
    }
    if (ec && ec != http::error::need_more) {
      deadline_.disarm();
      if (ec == http::error::header_limit) co_return refuse(431, "header_too_large");
      if (ec == http::error::body_limit) co_return refuse(413, "body_too_large");
      co_return refuse(400, "malformed_request");
    }
    if (buffer_->space() == 0) {
      // The parser may have taken the start line already (its views point at it): moving the
      // bytes under it would leave them dangling, so the head is parsed again from its start.
      if (buffer_->begin != head_start) {
        bytes_in_ -= buffer_->begin - head_start;
        buffer_->begin = head_start;
        start_parser();
      }
      buffer_->compact();
      head_start = buffer_->begin;
      if (buffer_->space() == 0) {
        deadline_.disarm();
        co_return refuse(431, "header_too_large");
      }
    }
    auto [read_ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
    if (deadline_.fired()) {
      if (!rq_->parser->got_some() && buffer_->size() == 0) co_return After::Abort;
      co_return refuse(408, "header_timeout");
    }
    if (read_ec) co_return After::Abort;  // the client went away: nothing to answer
    buffer_->end += n;
  }
  deadline_.disarm();
  co_return After::KeepAlive;
}

Task<ServerConnection::After> ServerConnection::serve_request() {
  if (!rq_) rq_ = std::make_unique<RequestState>();
  bytes_in_ = bytes_out_ = 0;
  close_after_ = false;
  rq_->refusal = {};
  start_parser();

  if (first_request_) {
    first_request_ = false;
    if (!tls_ && env_.http2().enabled) {
      auto sniffed = co_await sniff_preface();
      if (sniffed != After::KeepAlive) co_return sniffed;
    }
  }
  auto after = co_await read_head();
  if (after == After::Abort) co_return after;
  if (rq_->refusal.status != 0) {
    // After a request the gateway could not read, the connection cannot be trusted to be at
    // the start of the next one.
    close_after_ = true;
    co_return co_await handler_.refuse(*this, rq_->refusal.status, rq_->refusal.tag) ? After::Close
                                                                                     : After::Abort;
  }
  own_head();
  if (!rq_->parser->keep_alive()) close_after_ = true;

  if (!co_await handler_.serve(*this)) co_return After::Abort;
  co_return close_after_ ? After::Close : After::KeepAlive;
}

Task<ServerConnection::After> ServerConnection::sniff_preface() {
  static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  deadline_.arm(socket_, env_.limits().header_timeout);
  while (buffer_->size() < preface.size() &&
         preface.starts_with(std::string_view(buffer_->read_ptr(), buffer_->size()))) {
    auto [ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
    if (ec || deadline_.fired()) {
      deadline_.disarm();
      co_return After::Abort;
    }
    buffer_->end += n;
  }
  deadline_.disarm();
  if (std::string_view(buffer_->read_ptr(), buffer_->size()).starts_with(preface))
    co_return After::Http2;
  co_return After::KeepAlive;  // HTTP/1: read_head parses what is here
}

Task<> ServerConnection::serve_http2() {
  upgraded_to_h2_ = true;
  std::string early;
  if (buffer_) {
    early.assign(buffer_->read_ptr(), buffer_->size());
    env_.buffers().release(std::move(buffer_));
  }
  release_scratch();
  Transport transport(*this);
  co_await http2_.serve_http2(transport, facts_, early);
}

Task<std::tuple<boost::system::error_code, std::size_t>> ServerConnection::Transport::read_some(
    asio::mutable_buffer buffer) {
  co_return co_await c_.read_some(buffer);
}

Task<std::tuple<boost::system::error_code, std::size_t>> ServerConnection::Transport::write(
    asio::const_buffer bytes) {
  if (c_.tls_) co_return co_await c_.tls_->write(bytes);
  boost::system::error_code ec;
  auto now = net::write_now(c_.socket_, bytes, ec);
  if (ec || now == bytes.size()) co_return std::tuple(ec, now);
  auto [rest_ec, n] = co_await asio::async_write(c_.socket_, bytes + now, use_tuple);
  co_return std::tuple(rest_ec, now + n);
}

void ServerConnection::Transport::cancel() {
  boost::system::error_code ignored;
  c_.socket_.cancel(ignored);
}

void ServerConnection::start_parser() {
  const auto& limits = env_.limits();
  rq_->head.clear();
  rq_->body.clear();
  rq_->parser.emplace(rq_->head, rq_->body);
  rq_->parser->eager(false);
  rq_->parser->limits(static_cast<std::uint32_t>(limits.max_header_bytes), limits.max_body_bytes);
}

void ServerConnection::own_head() {
  // The head's views point into the read buffer, which streaming the body compacts over: copy
  // the head once and point the views at the copy, so filters can read it to the end.
  auto& rq = *rq_;
  const char* from = rq.head_bytes.data();
  rq.head_copy.assign(rq.head_bytes);
  const char* to = rq.head_copy.data();
  auto moved = [&](std::string_view view) {
    if (view.empty()) return std::string_view(to, 0);
    return std::string_view(to + (view.data() - from), view.size());
  };
  auto& head = rq.head;
  head.method = moved(head.method);
  head.target = moved(head.target);
  head.raw_path = moved(head.raw_path);
  head.query = moved(head.query);
  for (auto& field : head.fields) {
    field.name = moved(field.name);
    field.value = moved(field.value);
  }
}

bool ServerConnection::settle_request_body() {
  // An answer made without reading the body keeps the connection only when the body is
  // already here in full; otherwise the connection closes (after a lingering read) to stay in
  // sync.
  if (!rq_ || !rq_->parser || !rq_->parser->is_header_done()) return false;
  if (rq_->parser->is_done()) return true;
  boost::system::error_code ec;
  rq_->parser->eager(true);
  rq_->body.clear();
  auto n = rq_->parser->put(asio::buffer(buffer_->read_ptr(), buffer_->size()), ec);
  buffer_->begin += n;
  return rq_->parser->is_done();
}

Task<bool> ServerConnection::write_iov() {
  if (tls_) {
    // Gathered first: TLS would otherwise seal each piece in a record of its own.
    rq_->tls_staging.clear();
    for (const auto& piece : rq_->iov)
      rq_->tls_staging.append(static_cast<const char*>(piece.data()), piece.size());
    co_return co_await write_to_client(asio::buffer(rq_->tls_staging));
  }
  auto [ec, n] = co_await asio::async_write(socket_, rq_->iov, use_tuple);
  bytes_out_ += n;
  co_return !ec;
}

Task<bool> ServerConnection::write_to_client(asio::const_buffer bytes) {
  if (tls_) {
    auto [ec, n] = co_await tls_->write(bytes);
    bytes_out_ += n;
    co_return !ec;
  }
  boost::system::error_code ec;
  auto now = net::write_now(socket_, bytes, ec);
  bytes_out_ += now;
  if (ec) co_return false;
  if (now == bytes.size()) co_return true;
  auto [rest_ec, n] = co_await asio::async_write(socket_, bytes + now, use_tuple);
  bytes_out_ += n;
  co_return !rest_ec;
}

void ServerConnection::Writer::start(core::ResponseHead& head) {
  auto& c = c_;
  bool closing = c.close_after_ || !c.settle_request_body();
  c.rq_->out.clear();
  c.rq_->encoder.encode_head(head, c.rq_->head.version, c.rq_->head.method == "HEAD", closing,
                             c.rq_->out);
  c.close_after_ = closing;
  head_pending_ = true;
}

Task<bool> ServerConnection::Writer::write(const core::BodyPieces& body, bool last) {
  auto& c = c_;
  c.rq_->iov.clear();
  if (head_pending_) {
    c.rq_->iov.push_back(asio::buffer(c.rq_->out));
    head_pending_ = false;
  }
  c.rq_->encoder.encode_body(body, last, c.rq_->iov);
  if (c.rq_->iov.empty()) co_return true;
  if (!c.tls_) {
    boost::system::error_code ec;
    auto n = net::write_now(c.socket_, c.rq_->iov, ec);
    c.bytes_out_ += n;
    if (ec) co_return false;
    if (n == asio::buffer_size(c.rq_->iov)) co_return true;
    net::consume(c.rq_->iov, n);
  }
  c.deadline_.arm(c.socket_, c.env_.limits().idle_timeout);
  bool written = co_await c.write_iov();
  c.deadline_.disarm();
  co_return written;
}

BodyStatus ServerConnection::Body::parse_buffered() {
  auto& c = c_;
  boost::system::error_code ec;
  auto consumed = c.rq_->parser->put(asio::buffer(c.buffer_->read_ptr(), c.buffer_->size()), ec);
  c.buffer_->begin += consumed;
  c.bytes_in_ += consumed;
  if (ec == http::error::need_more) ec = {};
  if (ec == http::error::body_limit) return BodyStatus::TooLarge;
  if (ec) return BodyStatus::Malformed;
  return BodyStatus::Ok;
}

BodyStatus ServerConnection::Body::take_buffered() {
  c_.rq_->parser->eager(true);
  c_.rq_->body.clear();
  if (c_.rq_->parser->is_done() || c_.buffer_->size() == 0) return BodyStatus::Ok;
  return parse_buffered();
}

Task<BodyStatus> ServerConnection::Body::read(bool keep) {
  auto& c = c_;
  // A kept body grows where it is: its pieces point into the buffer.
  if (!keep) c.buffer_->compact();
  c.deadline_.arm(c.socket_, c.env_.limits().idle_timeout);
  auto [ec, n] = co_await c.read_some(asio::buffer(c.buffer_->write_ptr(), c.buffer_->space()));
  c.deadline_.disarm();
  if (ec || c.deadline_.fired()) co_return BodyStatus::ClientGone;
  c.buffer_->end += n;
  if (!keep) c.rq_->body.clear();
  co_return parse_buffered();
}

std::optional<std::uint64_t> ServerConnection::Body::length() const {
  auto length = c_.rq_->parser->content_length();
  if (!length) return std::nullopt;
  return *length;
}

bool ServerConnection::Body::expects_continue() const {
  return c_.rq_->parser->expects_continue() && c_.rq_->head.version == 11;
}

Task<bool> ServerConnection::Body::send_continue() {
  static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
  co_return co_await c_.write_to_client(asio::buffer(continue_line));
}

}  // namespace portico::http1
