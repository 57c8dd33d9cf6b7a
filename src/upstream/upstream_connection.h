// One connection to an upstream target: a TCP socket and, for an https:// target, a TLS
// session over it. The proxy reads and writes through it without caring which.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace portico::upstream {

using Clock = std::chrono::steady_clock;
using IoResult = std::tuple<boost::system::error_code, std::size_t>;

class UpstreamConnection {
 public:
  explicit UpstreamConnection(boost::asio::any_io_executor executor) : socket(executor) {}
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // Layers TLS over the connected socket, for `server_name` (SNI and the certificate check;
  // an IP address is checked against the certificate's IP entries and sent no SNI). False
  // when OpenSSL refuses the name. `resume`, when not null, is offered to the server to skip
  // a full handshake. The handshake is the caller's next step.
  bool start_tls(std::shared_ptr<boost::asio::ssl::context> context, const std::string& server_name,
                 bool verify, SSL_SESSION* resume);
  boost::asio::awaitable<std::tuple<boost::system::error_code>> handshake();
  // The session to offer the next connection to the same target: taken once per connection,
  // after an exchange (a TLS 1.3 server sends its tickets after the handshake). Null when
  // there is nothing (new) to take.
  std::shared_ptr<SSL_SESSION> take_session_for_reuse();
  // Why the peer's certificate was refused ("unable to get local issuer certificate"...), or
  // empty; for logs.
  std::string tls_failure_reason() const;

  boost::asio::awaitable<IoResult> read_some(boost::asio::mutable_buffer buffer);
  // Writes every byte of `buffers`. Over TLS they are first gathered into one buffer, so a
  // head and its body pieces go out as one record instead of one record each.
  boost::asio::awaitable<IoResult> write(const std::vector<boost::asio::const_buffer>& buffers);

  bool tls() const { return tls_ != nullptr; }

  // Whether the peer closed while the connection sat in the pool. Over TLS anything that
  // arrived counts: on an idle HTTP/1.1 connection it can only be a close_notify.
  bool peer_closed_while_idle();

  boost::asio::ip::tcp::socket socket;  // deadlines cancel operations through it
  Clock::time_point idle_since{};

 private:
  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // outlives the session using it
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  std::vector<char> tls_staging_;
  bool session_taken_ = false;
};

}  // namespace portico::upstream
