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

bool UpstreamConnection::start_tls(std::shared_ptr<ssl::context> context,
                                   const std::string& server_name, bool verify) {
  tls_context_ = std::move(context);
  tls_ = std::make_unique<ssl::stream<asio::ip::tcp::socket&>>(socket, *tls_context_);
  return net::prepare_tls_client(tls_->native_handle(), server_name, verify);
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
