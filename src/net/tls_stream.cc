#include "net/tls_stream.h"

#include <openssl/err.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "net/write_now.h"

namespace portico::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Room for a whole record (16 KiB of plaintext plus its overhead) and the start of the next.
constexpr std::size_t input_size = 17 * 1024 + 512;

void clear_errors() {
  // SSL_get_error needs an empty queue; clearing one that is empty is not free in OpenSSL 3.
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

BIO_METHOD* TlsStream::bio_method() {
  static BIO_METHOD* method = [] {
    auto* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portico tls stream");
    BIO_meth_set_read_ex(m, &TlsStream::bio_read);
    BIO_meth_set_write_ex(m, &TlsStream::bio_write);
    BIO_meth_set_ctrl(m, &TlsStream::bio_ctrl);
    return m;
  }();
  return method;
}

int TlsStream::bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  auto& self = *static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  std::size_t have = self.in_end_ - self.in_begin_;
  if (have == 0) {
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  std::size_t n = std::min(have, size);
  std::memcpy(data, self.in_.data() + self.in_begin_, n);
  self.in_begin_ += n;
  *read = n;
  return 1;
}

int TlsStream::bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  auto& self = *static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self.out_.append(data, size);
  *written = size;
  return 1;
}

long TlsStream::bio_ctrl(BIO* bio, int command, long, void*) {
  auto& self = *static_cast<TlsStream*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // sent by flush(), after the OpenSSL call returns
    case BIO_CTRL_PENDING:
      return static_cast<long>(self.in_end_ - self.in_begin_);
    case BIO_CTRL_WPENDING:
      return static_cast<long>(self.out_.size());
    default:
      return 0;
  }
}

TlsStream::TlsStream(asio::ip::tcp::socket& socket, SSL_CTX* context)
    : socket_(socket), ssl_(SSL_new(context)), in_(input_size), flushed_(socket.get_executor()) {
  if (!ssl_) throw std::bad_alloc();
  flushed_.expires_at(asio::steady_timer::time_point::max());
  BIO* bio = BIO_new(bio_method());
  if (!bio) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the session
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

TlsStream::Step TlsStream::classify(int result) {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      return Step::WantRead;
    case SSL_ERROR_ZERO_RETURN:  // close_notify: the peer sends no more, but may still read
      peer_closed_ = true;
      return Step::Failed;
    case SSL_ERROR_SSL:
      failure_ = error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
      if (!failure_) failure_ = asio::ssl::error::unspecified_system_error;
      ERR_clear_error();
      return Step::Failed;
    default:
      failure_ = asio::ssl::error::unspecified_system_error;
      ERR_clear_error();
      return Step::Failed;
  }
}

asio::awaitable<error_code> TlsStream::fill() {
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  // OpenSSL takes what is here before it asks for more, so the buffer is never full here;
  // were it, a zero-length read would complete at once and the caller would spin.
  if (in_end_ == in_.size()) co_return asio::error::no_buffer_space;
  auto [ec, n] = co_await socket_.async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_), use_tuple);
  in_end_ += n;
  co_return ec;
}

asio::awaitable<error_code> TlsStream::flush() {
  // Only one flush sends at a time; bytes queued meanwhile go out in its next round.
  if (flushing_) co_return error_code{};
  flushing_ = true;
  struct Done {
    TlsStream& self;
    ~Done() {
      self.flushing_ = false;
      self.flushed_.cancel();  // wakes a write waiting for this flush
    }
  } done{*this};
  error_code ec;
  while (!out_.empty() && !ec) {
    sending_.swap(out_);
    out_.clear();
    auto n = write_now(socket_, asio::buffer(sending_), ec);
    if (!ec && n < sending_.size()) {
      auto [write_ec, m] = co_await asio::async_write(
          socket_, asio::buffer(sending_.data() + n, sending_.size() - n), use_tuple);
      ec = write_ec;
    }
    sending_.clear();
  }
  // Part of a record may have gone: the session cannot go on.
  if (ec && !failure_) failure_ = ec;
  co_return ec;
}

asio::awaitable<std::tuple<error_code>> TlsStream::handshake() {
  for (;;) {
    clear_errors();
    int result = SSL_do_handshake(ssl_);
    Step step = result == 1 ? Step::Done : classify(result);
    // Whatever the outcome, what OpenSSL wrote (its flight, or an alert) goes out.
    auto flushed = co_await flush();
    if (step == Step::Failed) co_return failure_ ? failure_ : error_code(asio::error::eof);
    if (flushed) co_return flushed;
    if (step == Step::Done) co_return error_code{};
    if (auto ec = co_await fill()) co_return ec;
  }
}

asio::awaitable<TlsStream::IoResult> TlsStream::read_some(asio::mutable_buffer buffer) {
  auto ended = [this] { return IoResult{failure_ ? failure_ : asio::error::eof, 0}; };
  if (failure_ || peer_closed_) co_return ended();
  for (;;) {
    // Nothing received and nothing decrypted pending: asking OpenSSL first would only hear
    // "want read".
    if (in_begin_ == in_end_ && !SSL_has_pending(ssl_)) {
      if (auto ec = co_await fill()) co_return IoResult{ec, 0};
    }
    clear_errors();
    std::size_t n = 0;
    auto unread_before = in_end_ - in_begin_;
    int result = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
    // Classified before any suspension: the error queue belongs to the thread, which other
    // connections use meanwhile.
    Step step = result == 1 ? Step::Done : classify(result);
    // A read may make OpenSSL write (a key update answered): sent now unless a write is
    // already sending, which then sends it too.
    if (!out_.empty() && !flushing_) {
      if (auto ec = co_await flush()) co_return IoResult{ec, 0};
    }
    if (step == Step::Done) co_return IoResult{error_code{}, n};
    if (step == Step::Failed) co_return ended();
    // Input left that OpenSSL has not taken yet: offer it again, unless it took none of it.
    if (in_begin_ != in_end_ && in_end_ - in_begin_ < unread_before) continue;
    if (auto ec = co_await fill()) co_return IoResult{ec, 0};
  }
}

asio::awaitable<TlsStream::IoResult> TlsStream::write(asio::const_buffer bytes) {
  // A flush the reading side started is finished first, so that what this write queues is
  // sent before it returns (that is the writer's backpressure).
  while (flushing_) co_await flushed_.async_wait(use_tuple);
  if (failure_) co_return IoResult{failure_, 0};
  clear_errors();
  std::size_t n = 0;
  if (bytes.size() > 0 && SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) != 1) {
    // Our BIO takes every byte, so only a post-handshake message cut across records (which
    // leaves OpenSSL wanting input before it writes) or a broken session gets here; either
    // ends the session rather than reporting a write that did not happen.
    if (classify(0) != Step::Failed || !failure_)
      failure_ = asio::ssl::error::unspecified_system_error;
    co_return IoResult{failure_, 0};
  }
  if (auto ec = co_await flush()) co_return IoResult{ec, 0};
  co_return IoResult{error_code{}, n};
}

asio::awaitable<std::tuple<error_code>> TlsStream::shutdown() {
  clear_errors();
  int result = SSL_shutdown(ssl_);
  if (auto ec = co_await flush()) co_return ec;
  if (result == 1) co_return error_code{};  // the peer's close_notify had already come
  // Wait for the peer's close_notify: reading until the session reports it (or anything ends
  // the connection).
  char discard[512];
  for (;;) {
    auto [ec, n] = co_await read_some(asio::buffer(discard));
    if (ec == asio::error::eof) co_return error_code{};
    if (ec) co_return ec;
  }
}

}  // namespace portico::net
