#include "upstream/upstream_connection.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/tls_client.h"

namespace portico::upstream {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}

UpstreamConnection::~UpstreamConnection() {
  // The gateway closes an upstream connection without close_notify: HTTP/1.1 messages carry
  // their own length. OpenSSL would take that for a broken session and make it
  // unresumable, which would cost every later connection to the target a full handshake;
  // saying the shutdown happened keeps it.
  if (tls_ && SSL_is_init_finished(tls_->native_handle()))
    SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

bool UpstreamConnection::start_tls(std::shared_ptr<ssl::context> context,
                                   const std::string& server_name, bool verify,
                                   SSL_SESSION* resume) {
  tls_context_ = std::move(context);
  tls_ = std::make_unique<ssl::stream<asio::ip::tcp::socket&>>(socket, *tls_context_);
  if (resume) SSL_set_session(tls_->native_handle(), resume);  // the server may still refuse it
  return net::prepare_tls_client(tls_->native_handle(), server_name, verify);
}

std::shared_ptr<SSL_SESSION> UpstreamConnection::take_session_for_reuse() {
  if (!tls_ || session_taken_ || !SSL_is_init_finished(tls_->native_handle())) return nullptr;
  session_taken_ = true;
  SSL_SESSION* session = SSL_get1_session(tls_->native_handle());
  if (!session) return nullptr;
  if (SSL_SESSION_is_resumable(session) != 1) {
    SSL_SESSION_free(session);
    return nullptr;
  }
  return {session, SSL_SESSION_free};
}

asio::awaitable<std::tuple<boost::system::error_code>> UpstreamConnection::handshake() {
  return tls_->async_handshake(ssl::stream_base::client, use_tuple);
}

std::string UpstreamConnection::tls_failure_reason() const {
  if (!tls_) return {};
  long verify = SSL_get_verify_result(tls_->native_handle());
  if (verify != X509_V_OK) return X509_verify_cert_error_string(verify);
  return {};
}

asio::awaitable<IoResult> UpstreamConnection::read_some(asio::mutable_buffer buffer) {
  if (tls_) return tls_->async_read_some(buffer, use_tuple);
  return socket.async_read_some(buffer, use_tuple);
}

asio::awaitable<IoResult> UpstreamConnection::write(
    const std::vector<asio::const_buffer>& buffers) {
  if (!tls_) return asio::async_write(socket, buffers, use_tuple);
  tls_staging_.resize(asio::buffer_size(buffers));
  asio::buffer_copy(asio::buffer(tls_staging_), buffers);
  return asio::async_write(*tls_, asio::buffer(tls_staging_), use_tuple);
}

bool UpstreamConnection::peer_closed_while_idle() {
  char byte;
  auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return tls_ != nullptr;
  return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace portico::upstream
