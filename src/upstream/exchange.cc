#include "upstream/exchange.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>

#include "core/log.h"
#include "net/write_now.h"

namespace portico::upstream {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
template <class T>
using Task = asio::awaitable<T>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string_view error_tag(ExchangeError error) {
  switch (error) {
    case ExchangeError::None:
      return {};
    case ExchangeError::PoolFull:
      return "pool_full";
    case ExchangeError::ConnectFailure:
      return "connect_failure";
    case ExchangeError::ConnectTimeout:
      return "connect_timeout";
    case ExchangeError::TlsFailed:
      return "upstream_tls_failed";
    case ExchangeError::Timeout:
      return "upstream_timeout";
    case ExchangeError::WriteFailed:
      return "upstream_write_failed";
    case ExchangeError::Reset:
      return "upstream_reset";
    case ExchangeError::Malformed:
      return "upstream_malformed";
    case ExchangeError::Stale:
      return "upstream_reset";
    case ExchangeError::BodyIncomplete:
      return "upstream_body_incomplete";
  }
  return {};
}

int error_status(ExchangeError error) {
  switch (error) {
    case ExchangeError::PoolFull:
      return 503;
    case ExchangeError::ConnectTimeout:
    case ExchangeError::Timeout:
      return 504;
    default:
      return 502;
  }
}

std::string_view error_message(ExchangeError error) {
  switch (error) {
    case ExchangeError::PoolFull:
      return "upstream connection limit reached";
    case ExchangeError::ConnectTimeout:
      return "upstream connect timed out";
    case ExchangeError::TlsFailed:
      return "upstream TLS handshake failed";
    default:
      return {};
  }
}

std::optional<AttemptFailure> attempt_failure(ExchangeError error) {
  switch (error) {
    // A peer that fails the TLS handshake is as unreachable as one that refuses the connection.
    case ExchangeError::ConnectFailure:
    case ExchangeError::TlsFailed:
      return AttemptFailure::ConnectFailure;
    case ExchangeError::ConnectTimeout:
    case ExchangeError::Timeout:
      return AttemptFailure::Timeout;
    case ExchangeError::Reset:
    case ExchangeError::Stale:
    case ExchangeError::WriteFailed:
    case ExchangeError::Malformed:
      return AttemptFailure::Reset;
    default:
      return std::nullopt;
  }
}

Exchange::Exchange(asio::io_context& io, net::DeadlineList& deadlines, net::BufferPool& buffers)
    : io_(io), buffers_(buffers), deadline_(deadlines) {}

Exchange::~Exchange() {
  // Every exchange a request starts is finished by then. One destroyed mid-way is a worker
  // shutting down with requests in flight: its pools are already gone (they are destroyed
  // before the io_context whose frames own this), so the connection just closes with it.
  deadline_.disarm();
  if (buffer_) buffers_.release(std::move(buffer_));
}

Task<std::tuple<boost::system::error_code, std::size_t>> Exchange::read_some(
    asio::mutable_buffer buffer) {
  co_return co_await connection_->read_some(buffer);
}

Task<std::tuple<boost::system::error_code, std::size_t>> Exchange::write(asio::const_buffer bytes) {
  std::size_t now = 0;
  if (!connection_->tls()) {
    boost::system::error_code ec;
    now = net::write_now(connection_->socket, bytes, ec);
    if (ec || now == bytes.size()) co_return std::tuple{ec, now};
  }
  relay_iov_.assign(1, bytes + now);
  auto [ec, n] = co_await connection_->write(relay_iov_);
  co_return std::tuple{ec, now + n};
}

std::string_view Exchange::take_early_bytes() {
  std::string_view early(buffer_->read_ptr(), buffer_->size());
  buffer_->begin = buffer_->end;
  return early;
}

asio::mutable_buffer Exchange::scratch() {
  // Early bytes are taken before the relay reads: the whole buffer is free.
  buffer_->reset();
  return asio::buffer(buffer_->data, buffer_->capacity);
}

void Exchange::cancel() {
  boost::system::error_code ignored;
  if (connection_) connection_->socket.cancel(ignored);
}

void Exchange::abort() {
  aborted_ = true;
  if (waiter_) waiter_->timer->cancel();  // open() sees aborted_ and gives up its place
  if (!connection_) return;
  boost::system::error_code ignored;
  connection_->socket.shutdown(tcp::socket::shutdown_both, ignored);
  connection_->socket.close(ignored);
}

void Exchange::finish(bool reusable) {
  deadline_.disarm();  // it must never outlive the socket it guards
  if (connection_) {
    // Reused only when the exchange ended cleanly: the whole answer read, nothing extra
    // received, and the upstream did not ask to close.
    bool clean = reusable && !aborted_ && connection_->socket.is_open() && parser_ &&
                 parser_->is_done() && parser_->keep_alive() && !parser_->need_eof() && buffer_ &&
                 buffer_->size() == 0;
    if (clean)
      pool_->give_back(std::move(connection_));
    else
      pool_->discard(std::move(connection_));
  }
  if (buffer_) buffers_.release(std::move(buffer_));
  parser_.reset();
  body_failed_ = false;
}

Task<ExchangeError> Exchange::open(const TargetAddress& target, bool idempotent) {
  finish(false);
  aborted_ = false;
  target_ = &target;
  pool_ = target.pool;
  auto& pool = *pool_;
  buffer_ = buffers_.acquire();
  connection_ = pool.take_idle();
  // A pooled connection the upstream closed would fail a request we cannot replay safely.
  if (connection_ && !idempotent && connection_->peer_closed_while_idle()) {
    pool.discard(std::move(connection_));
    connection_ = pool.take_idle();
  }
  if (!connection_ && !pool.can_open()) {
    // At max_connections: wait (up to the connect timeout) for one to come back or close.
    asio::steady_timer wait(io_, target.connect_timeout);
    ConnectionPool::Waiter waiter(wait);
    pool.add_waiter(waiter);
    waiter_ = &waiter;
    co_await wait.async_wait(use_tuple);  // cancelled (handed something, or abort()) or expired
    waiter_ = nullptr;
    pool.remove_waiter(waiter);
    if (aborted_) {
      // What the pool handed over goes on to the next request waiting.
      if (waiter.connection) pool.give_back(std::move(waiter.connection));
      if (waiter.slot) pool.pass_slot();
      co_return ExchangeError::Reset;
    }
    if (waiter.connection) {
      connection_ = std::move(waiter.connection);
    } else if (waiter.slot) {
      pool.use_slot();
    } else {
      connection_ = pool.take_idle();
      if (!connection_ && !pool.can_open()) co_return ExchangeError::PoolFull;
    }
  }
  reused_ = connection_ != nullptr;
  if (reused_) co_return ExchangeError::None;
  co_return co_await connect(target);
}

Task<ExchangeError> Exchange::connect(const TargetAddress& target) {
  connection_ = std::make_unique<UpstreamConnection>(io_.get_executor());
  pool_->opened();
  deadline_.arm(connection_->socket, target.connect_timeout);
  auto [ec] = co_await connection_->socket.async_connect(target.endpoint, use_tuple);
  deadline_.disarm();
  if (deadline_.fired()) co_return ExchangeError::ConnectTimeout;
  if (ec) co_return ExchangeError::ConnectFailure;
  boost::system::error_code ignored;
  connection_->socket.set_option(tcp::no_delay(true), ignored);
  if (!target.tls_context) co_return ExchangeError::None;
  co_return co_await start_tls(target);
}

Task<ExchangeError> Exchange::start_tls(const TargetAddress& target) {
  auto& connection = *connection_;
  if (!connection.start_tls(target.tls_context, std::string(target.tls_server_name),
                            target.tls_verify, pool_->tls_session()))
    co_return ExchangeError::TlsFailed;
  // The handshake is part of connecting: it shares the connect timeout.
  deadline_.arm(connection.socket, target.connect_timeout);
  auto [ec] = co_await connection.handshake();
  deadline_.disarm();
  if (deadline_.fired()) co_return ExchangeError::ConnectTimeout;
  if (ec) {
    auto reason = connection.tls_failure_reason();
    core::log_warn("upstream " + std::string(target.upstream_name) + ": TLS handshake with " +
                   std::string(target.target_key) + " failed: " + ec.message() +
                   (reason.empty() ? "" : " (" + reason + ")"));
    co_return ExchangeError::TlsFailed;
  }
  co_return ExchangeError::None;
}

Task<ExchangeError> Exchange::send(const std::vector<asio::const_buffer>& iov,
                                   std::chrono::milliseconds timeout, bool may_be_stale) {
  if (auto outcome = try_send(iov, may_be_stale)) co_return *outcome;
  co_return co_await send_rest(timeout, may_be_stale);
}

std::optional<ExchangeError> Exchange::try_send(const std::vector<asio::const_buffer>& iov,
                                                bool may_be_stale) {
  std::size_t n = 0;
  if (!connection_->tls()) {  // over TLS the bytes are sealed first: send_rest does it all
    boost::system::error_code ec;
    n = net::write_now(connection_->socket, iov, ec);
    // A keep-alive connection the upstream had closed: try a fresh one.
    if (ec) return may_be_stale ? ExchangeError::Stale : ExchangeError::WriteFailed;
    if (n == asio::buffer_size(iov)) return ExchangeError::None;
  }
  unsent_ = iov;  // copied only when bytes remain
  net::consume(unsent_, n);
  return std::nullopt;
}

Task<ExchangeError> Exchange::send_rest(std::chrono::milliseconds timeout, bool may_be_stale) {
  deadline_.arm(connection_->socket, timeout);
  auto [ec, n] = co_await connection_->write(unsent_);
  if (!ec) co_return ExchangeError::None;
  if (deadline_.fired()) co_return ExchangeError::Timeout;
  if (may_be_stale) co_return ExchangeError::Stale;
  co_return ExchangeError::WriteFailed;
}

void Exchange::start_parser(core::ResponseHead& head) {
  head.clear();
  body_.clear();
  parser_.emplace(head, body_);
  parser_->header_limit(static_cast<std::uint32_t>(buffer_->capacity - 1));
  parser_->body_limit(boost::none);
  parser_->eager(false);
  if (head_request_) parser_->skip(true);
}

Task<ExchangeError> Exchange::read_head(core::ResponseHead& head, bool head_request,
                                        std::chrono::milliseconds timeout, bool may_be_stale) {
  auto& buffer = *buffer_;
  auto& connection = *connection_;
  head_request_ = head_request;
  buffer.reset();
  start_parser(head);
  deadline_.arm(connection.socket, timeout);
  boost::system::error_code ec;
  for (;;) {
    auto [read_ec, n] =
        co_await connection.read_some(asio::buffer(buffer.write_ptr(), buffer.space()));
    if (deadline_.fired()) co_return ExchangeError::Timeout;
    if (read_ec) {
      // Closed before a single byte: the pooled connection was stale, not the request bad.
      if (may_be_stale && !parser_->got_some() && buffer.size() == 0)
        co_return ExchangeError::Stale;
      // A TLS 1.3 server judges the client certificate after the client has finished its
      // handshake, so a refusal arrives as an alert on the first read.
      if (read_ec.category() == asio::error::get_ssl_category()) {
        core::log_warn("upstream " + std::string(target_->upstream_name) + ": TLS with " +
                       std::string(target_->target_key) + " failed: " + read_ec.message());
        co_return ExchangeError::TlsFailed;
      }
      co_return ExchangeError::Reset;
    }
    buffer.end += n;
    while (buffer.size() > 0) {
      auto used = parser_->put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
      buffer.begin += used;
      if (ec == http::error::need_more) break;
      if (ec) co_return ExchangeError::Malformed;
      if (!parser_->is_header_done()) continue;
      // Interim 1xx answers (103 Early Hints...) are not relayed; the final one follows.
      int status = head.status;
      if (status >= 100 && status < 200 && status != 101) {
        start_parser(head);
        continue;
      }
      deadline_.disarm();
      co_return ExchangeError::None;
    }
    buffer.compact();
    if (buffer.space() == 0) co_return ExchangeError::Malformed;
  }
}

std::optional<std::uint64_t> Exchange::content_length() const {
  auto length = parser_->content_length();
  if (!length) return std::nullopt;
  return *length;
}

const core::BodyPieces& Exchange::buffered_body() {
  // Body bytes that came with the head go in the same write as the head.
  auto& buffer = *buffer_;
  boost::system::error_code ec;
  parser_->eager(true);
  body_.clear();
  if (!parser_->is_done() && buffer.size() > 0) {
    auto used = parser_->put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
    buffer.begin += used;
    if (ec && ec != http::error::need_more) body_failed_ = true;
  }
  return body_;
}

Task<const core::BodyPieces*> Exchange::read_body(std::chrono::milliseconds timeout) {
  auto& buffer = *buffer_;
  auto& connection = *connection_;
  buffer.compact();
  deadline_.arm(connection.socket, timeout);
  auto [read_ec, n] =
      co_await connection.read_some(asio::buffer(buffer.write_ptr(), buffer.space()));
  deadline_.disarm();
  body_.clear();
  boost::system::error_code ec;
  // A close-delimited body ends at EOF; over TLS, many servers close without close_notify
  // (as nginx does, that is taken as the end too).
  const bool ended = read_ec == asio::error::eof || read_ec == asio::ssl::error::stream_truncated;
  if (ended && parser_->need_eof()) {
    parser_->put_eof(ec);
  } else if (read_ec || deadline_.fired()) {
    body_failed_ = true;
  } else {
    buffer.end += n;
    auto used = parser_->put(asio::buffer(buffer.read_ptr(), buffer.size()), ec);
    buffer.begin += used;
    if (ec == http::error::need_more) ec = {};
    if (ec) body_failed_ = true;
  }
  co_return &body_;
}

}  // namespace portico::upstream
