// The server side of one TLS connection over a TCP socket: OpenSSL sees the bytes through a
// BIO of our own (ciphertext in `in_`, out through `out_`), and the socket is driven by the
// connection's own coroutines. Against boost::asio::ssl::stream, which it replaced for the
// listeners: a record the socket already delivered is decrypted without first asking OpenSSL
// for it in vain, a whole answer leaves in one non-blocking write without suspending, and the
// error queue is cleared only when something is in it. Reading and writing may run at the
// same time (a WebSocket relay does); handshake and shutdown run alone.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

namespace portico::net {

class TlsStream {
 public:
  using IoResult = std::tuple<boost::system::error_code, std::size_t>;

  // A server-side session on `socket` (which must outlive it), starting from `context`.
  TlsStream(boost::asio::ip::tcp::socket& socket, SSL_CTX* context);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  SSL* native_handle() { return ssl_; }

  boost::asio::awaitable<std::tuple<boost::system::error_code>> handshake();
  // Some decrypted bytes (at least one), or an error; eof when the peer sent close_notify or
  // closed the connection.
  boost::asio::awaitable<IoResult> read_some(boost::asio::mutable_buffer buffer);
  // Every byte of `bytes`, sealed in as few records as TLS allows.
  boost::asio::awaitable<IoResult> write(boost::asio::const_buffer bytes);
  // Sends close_notify, then waits for the peer's (the caller bounds the wait).
  boost::asio::awaitable<std::tuple<boost::system::error_code>> shutdown();

 private:
  static BIO_METHOD* bio_method();
  static int bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read);
  static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written);
  static long bio_ctrl(BIO* bio, int command, long number, void* pointer);

  // What an OpenSSL call's failure means: retry after more input (WantRead), or an error.
  enum class Step { Done, WantRead, Failed };
  Step classify(int result);
  // Sends what OpenSSL wrote to `out_` (unless a write is already sending: it sends it after).
  boost::asio::awaitable<boost::system::error_code> flush();
  // Reads more ciphertext from the socket into `in_`.
  boost::asio::awaitable<boost::system::error_code> fill();

  boost::asio::ip::tcp::socket& socket_;
  SSL* ssl_;
  std::vector<char> in_;  // ciphertext received, [in_begin_, in_end_) not yet read by OpenSSL
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;      // ciphertext OpenSSL produced, not yet sent
  std::string sending_;  // what the flush in flight sends
  bool flushing_ = false;
  boost::asio::steady_timer flushed_;  // never expires; cancelled when a flush ends
  bool peer_closed_ = false;           // its close_notify came: reads end, writes may go on
  boost::system::error_code failure_;  // the error that ended the session, reported again
};

}  // namespace portico::net
