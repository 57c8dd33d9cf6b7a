// The outbound HTTP/1.1 client of the control plane: JWKS, token introspection, health probes.
// One connection per request, `Connection: close`; http:// and https:// (peer and host name
// verified). Not for the request path: it allocates freely and resolves names itself.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/tls_client.h"

namespace portico::control {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://...
  // Sent after Host, User-Agent and `Connection: close`; a Host or User-Agent here replaces ours.
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{
      5000};  // the whole exchange: resolve, connect, TLS, write, read
  std::size_t max_body_bytes = 1024 * 1024;  // a longer response body is an error
  std::string ca_file;  // PEM certificates trusted instead of the system's (tests, private CAs)
};

struct HttpResult {
  // Empty on success (whatever the status): otherwise a short message such as "bad url",
  // "timed out", "connect failed: ...", "tls handshake failed: ...", "response too large".
  std::string error;
  int status = 0;
  HeaderList headers;  // as received, in order
  std::string body;

  bool ok() const { return error.empty(); }
  // The first value of a header (name compared case-insensitively), or empty.
  std::string_view header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient();  // trusts the system's default CA paths

  // Runs on the awaiting coroutine's executor, which must be single-threaded (the control
  // plane's). Never throws. The client may be destroyed while a fetch is in flight.
  boost::asio::awaitable<HttpResult> fetch(HttpRequest request) const;

 private:
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

// One HTTP exchange with an address already known (health probes: no DNS), over TLS when
// `tls.context` is set. The URL still gives the target and the default Host. `socket` is the
// caller's so that closing it ends the exchange at once; it is connected here and closed
// before this returns.
boost::asio::awaitable<HttpResult> fetch_from(boost::asio::ip::tcp::socket& socket,
                                              boost::asio::ip::tcp::endpoint endpoint,
                                              const HttpRequest& request,
                                              const net::TlsPeer& tls = {});

}  // namespace portico::control
