// One exchange with one upstream target: a pooled (or new) connection, the request sent, the
// answer's head read, then its body piece by piece. An object on its own, so that an action
// can run several at once on one worker (aggregation, gRPC fan-out) as easily as one. Failures
// come back as an ExchangeError, which says what the access log, the retry policy, the breaker
// and outlier detection each make of it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/body_pieces.h"
#include "core/response_head.h"
#include "http1/response_parser.h"
#include "net/buffer_pool.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "upstream/connection_pool.h"
#include "upstream/retry_policy.h"

namespace portico::upstream {

enum class ExchangeError {
  None,
  PoolFull,        // at max_connections, and none came back within the connect timeout
  ConnectFailure,  // refused, unreachable
  ConnectTimeout,  // connecting (and the TLS handshake) took longer than timeouts.connect
  TlsFailed,       // the handshake failed or the certificate was refused
  Timeout,         // the request timeout passed waiting on the upstream
  WriteFailed,     // the request could not be written
  Reset,           // closed or reset before the whole head arrived
  Malformed,       // not an HTTP answer, or a head larger than the buffer
  Stale,           // a reused connection turned out closed before any answer: send again
  BodyIncomplete,  // the body broke off (or was malformed) after the head
};

// The access log's `error` tag and the status the gateway answers with (502, 503, 504).
std::string_view error_tag(ExchangeError error);
int error_status(ExchangeError error);
// The error body's message; empty for the status's default.
std::string_view error_message(ExchangeError error);
// What retries, the breaker and outlier detection count it as; nullopt: not the upstream's
// doing.
std::optional<AttemptFailure> attempt_failure(ExchangeError error);

// Where one target is and how to reach it.
struct TargetAddress {
  ConnectionPool* pool = nullptr;  // this worker's pool for the target
  boost::asio::ip::tcp::endpoint endpoint;
  std::shared_ptr<boost::asio::ssl::context> tls_context;  // null: plain TCP
  std::string_view tls_server_name;
  bool tls_verify = true;
  std::chrono::milliseconds connect_timeout{};
  std::string_view upstream_name, target_key;  // for logs
};

class Exchange final : public net::ByteStream {
 public:
  Exchange(boost::asio::io_context& io, net::DeadlineList& deadlines, net::BufferPool& buffers);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Takes a pooled connection to `target`, or opens one (and its TLS). `idempotent`: the
  // request may go over a pooled connection the peer might have closed meanwhile.
  boost::asio::awaitable<ExchangeError> open(const TargetAddress& target, bool idempotent);
  bool reused() const { return reused_; }  // the connection came from the pool

  // Writes `iov` (the head and body pieces) within `timeout`. Stale when a reused
  // connection had been closed and `may_be_stale` (the request can go again on a fresh one).
  boost::asio::awaitable<ExchangeError> send(const std::vector<boost::asio::const_buffer>& iov,
                                             std::chrono::milliseconds timeout, bool may_be_stale);
  // send() in two steps, so that the usual case costs no suspension: the write tried at once
  // gives the outcome, or nullopt when bytes remain, which send_rest() then writes.
  std::optional<ExchangeError> try_send(const std::vector<boost::asio::const_buffer>& iov,
                                        bool may_be_stale);
  boost::asio::awaitable<ExchangeError> send_rest(std::chrono::milliseconds timeout,
                                                  bool may_be_stale);
  // Reads the answer's head into `head` (interim 1xx answers other than 101 are skipped).
  // `head_request`: the request was HEAD, so no body follows whatever the head says.
  boost::asio::awaitable<ExchangeError> read_head(core::ResponseHead& head, bool head_request,
                                                  std::chrono::milliseconds timeout,
                                                  bool may_be_stale);
  std::optional<std::uint64_t> content_length() const;
  // The body bytes that came with the head; then each read_body() yields the next ones.
  // Views into the exchange's buffer, valid until the next call.
  const core::BodyPieces& buffered_body();
  boost::asio::awaitable<const core::BodyPieces*> read_body(std::chrono::milliseconds timeout);
  bool body_done() const { return parser_ && parser_->is_done(); }
  bool body_failed() const { return body_failed_; }

  // Ends the exchange: the connection goes back to the pool only when `reusable` and the
  // whole answer was read with nothing extra and no request to close.
  void finish(bool reusable);
  bool active() const { return connection_ != nullptr; }

  // After a 101 the exchange is the upstream's side of a byte relay.
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer buffer) override;
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(
      boost::asio::const_buffer bytes) override;
  void cancel() override;  // ends pending reads and writes (a drain, the end of a relay)
  // Closes the connection now: what is pending fails, and so does every later read or write
  // on it (an exchange nobody wants any more; unlike cancel(), nothing can slip past it). A
  // wait for a pooled connection ends at once, and the connection never goes back to the pool.
  // Until the next open().
  void abort();
  std::string_view take_early_bytes() override;
  boost::asio::mutable_buffer scratch() override;

 private:
  boost::asio::awaitable<ExchangeError> connect(const TargetAddress& target);
  boost::asio::awaitable<ExchangeError> start_tls(const TargetAddress& target);
  void start_parser(core::ResponseHead& head);

  boost::asio::io_context& io_;
  net::BufferPool& buffers_;
  net::Deadline deadline_;  // guards connection_->socket
  ConnectionPool* pool_ = nullptr;
  const TargetAddress* target_ = nullptr;
  std::unique_ptr<UpstreamConnection> connection_;
  std::unique_ptr<net::Buffer> buffer_;  // what the upstream sent, not yet taken
  std::vector<boost::asio::const_buffer> relay_iov_;
  std::vector<boost::asio::const_buffer> unsent_;  // what try_send left to send_rest
  std::optional<http1::ResponseParser> parser_;
  core::BodyPieces body_;
  bool head_request_ = false;
  bool reused_ = false;
  bool body_failed_ = false;
  bool aborted_ = false;
  ConnectionPool::Waiter* waiter_ = nullptr;  // while open() waits for the pool
};

}  // namespace portico::upstream
