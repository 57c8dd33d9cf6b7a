#include "control/http_client.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <span>

#include "control/dns_resolver.h"
#include "control/socket_timeout.h"
#include "core/url_target.h"
#include "net/tls_client.h"

namespace portico::control {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Request = http::request<http::string_body>;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 64 * 1024;
constexpr int max_interim_responses = 8;  // 1xx before the real answer (103 Early Hints)

HttpResult failure(std::string message) {
  HttpResult result;
  result.error = std::move(message);
  return result;
}

// What a URL says about where and what to ask.
struct Target {
  bool tls = false;
  std::string host;  // for DNS, SNI and the certificate check: no brackets, decoded
  std::uint16_t port = 0;
  std::string host_header;  // as written: "[::1]:8443"
  std::string path;         // origin form: "/path?query"
};

// An error message, or empty when `out` is filled.
std::string parse_url(std::string_view text, Target& out) {
  auto parsed = urls::parse_uri(text);
  if (!parsed) return "bad url";
  const auto& url = *parsed;
  if (url.scheme_id() == urls::scheme::https) {
    out.tls = true;
  } else if (url.scheme_id() != urls::scheme::http) {
    return "bad url: scheme must be http or https";
  }
  if (!url.has_authority() || url.has_userinfo()) return "bad url";
  out.host = core::url_host(url);
  if (out.host.empty()) return "bad url: no host";
  auto port = core::url_port(url, out.tls ? 443 : 80);
  if (!port) return "bad url: bad port";
  out.port = *port;
  out.host_header = url.encoded_host_and_port();
  out.path = url.encoded_path();
  if (out.path.empty()) out.path = "/";
  if (url.has_query()) {
    out.path += '?';
    out.path += url.encoded_query();
  }
  return {};
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_field_value(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// An error message, or empty when `out` is filled.
std::string build_request(const HttpRequest& in, const Target& target, Request& out) {
  if (!is_token(in.method)) return "bad method";
  out.method_string(in.method);
  out.target(target.path);
  out.version(11);
  out.set(http::field::host, target.host_header);
  out.set(http::field::user_agent, "portico");
  for (const auto& [name, value] : in.headers) {
    if (!is_token(name) || !is_field_value(value)) return "bad header: " + name;
    if (beast::iequals(name, "host") || beast::iequals(name, "user-agent")) {
      out.set(name, value);
    } else {
      out.insert(name, value);
    }
  }
  out.set(http::field::connection, "close");
  out.body() = in.body;
  out.prepare_payload();
  return {};
}

std::string io_error(std::string_view what, const error_code& ec, const SocketTimeout& timeout) {
  if (timeout.fired()) return "timed out";
  return std::string{what} + ": " + ec.message();
}

// Tries each address in turn until one answers or the deadline closes the socket. An error
// message, or empty once connected.
asio::awaitable<std::string> connect(tcp::socket& socket, std::span<const tcp::endpoint> endpoints,
                                     const SocketTimeout& timeout) {
  error_code ec = asio::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    if (timeout.fired()) break;
    error_code ignored;
    socket.close(ignored);
    std::tie(ec) = co_await socket.async_connect(endpoint, use_tuple);
    if (!ec) co_return std::string{};
  }
  co_return io_error("connect failed", ec, timeout);
}

template <class Stream>
asio::awaitable<HttpResult> exchange(Stream& stream, const Request& request,
                                     std::size_t max_body_bytes, const SocketTimeout& timeout) {
  auto [write_ec, written] = co_await http::async_write(stream, request, use_tuple);
  if (write_ec) co_return failure(io_error("write failed", write_ec, timeout));

  beast::flat_buffer buffer;
  for (int interim = 0;; ++interim) {
    http::response_parser<http::string_body> parser;
    parser.header_limit(max_header_bytes);
    parser.body_limit(max_body_bytes);
    if (request.method() == http::verb::head) parser.skip(true);
    auto [ec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == ssl::error::stream_truncated && parser.is_header_done() && parser.need_eof()) {
      // A TLS peer that closes without close_notify, after a body that ends at the close.
      ec = {};
      parser.put_eof(ec);
    }
    if (ec) {
      if (timeout.fired()) co_return failure("timed out");
      if (ec == http::error::body_limit || ec == http::error::header_limit)
        co_return failure("response too large");
      if (ec == http::error::end_of_stream)
        co_return failure("connection closed before a response");
      if (ec.category() == http::make_error_code(http::error::bad_version).category())
        co_return failure("bad response: " + ec.message());
      co_return failure("read failed: " + ec.message());
    }
    auto& message = parser.get();
    int status = message.result_int();
    if (status >= 100 && status < 200 && status != 101 && interim < max_interim_responses) continue;
    HttpResult result;
    result.status = status;
    for (const auto& field : message)
      result.headers.emplace_back(field.name_string(), field.value());
    result.body = std::move(message.body());
    co_return result;
  }
}

asio::awaitable<HttpResult> run_fetch(std::shared_ptr<ssl::context> system_tls,
                                      HttpRequest request) {
  try {
    auto deadline = Clock::now() + request.timeout;
    Target target;
    if (auto error = parse_url(request.url, target); !error.empty()) co_return failure(error);
    Request head;
    if (auto error = build_request(request, target, head); !error.empty()) co_return failure(error);
    auto resolved = co_await resolve_all(target.host, target.port, request.timeout);
    if (!resolved.error.empty()) co_return failure(resolved.error);
    auto executor = co_await asio::this_coro::executor;

    if (!target.tls) {
      tcp::socket socket{executor};
      SocketTimeout timeout{socket, deadline};
      if (auto error = co_await connect(socket, resolved.endpoints, timeout); !error.empty())
        co_return failure(error);
      co_return co_await exchange(socket, head, request.max_body_bytes, timeout);
    }

    auto tls = system_tls;
    if (!request.ca_file.empty()) {
      try {
        net::TlsClientOptions options;
        options.ca_file = request.ca_file;
        tls = net::make_tls_client_context(options);
      } catch (const std::exception& e) {
        co_return failure(std::string{"bad ca file: "} + e.what());
      }
    }
    ssl::stream<tcp::socket> stream{executor, *tls};
    SocketTimeout timeout{stream.next_layer(), deadline};
    if (auto error = co_await connect(stream.next_layer(), resolved.endpoints, timeout);
        !error.empty())
      co_return failure(error);
    if (!net::prepare_tls_client(stream.native_handle(), target.host, true))
      co_return failure("tls handshake failed: bad server name");
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (ec) co_return failure(io_error("tls handshake failed", ec, timeout));
    co_return co_await exchange(stream, head, request.max_body_bytes, timeout);
  } catch (const std::exception& e) {
    co_return failure(std::string{"internal error: "} + e.what());
  }
}

asio::awaitable<HttpResult> run_fetch_from(tcp::socket& socket, tcp::endpoint endpoint,
                                           const HttpRequest& request, const net::TlsPeer& tls) {
  try {
    auto deadline = Clock::now() + request.timeout;
    Target target;
    if (auto error = parse_url(request.url, target); !error.empty()) co_return failure(error);
    if (target.tls) co_return failure("bad url: fetch_from takes http:// urls; TLS comes from tls");
    Request head;
    if (auto error = build_request(request, target, head); !error.empty()) co_return failure(error);
    SocketTimeout timeout{socket, deadline};
    if (auto error = co_await connect(socket, {&endpoint, 1}, timeout); !error.empty())
      co_return failure(error);
    if (!tls.context) co_return co_await exchange(socket, head, request.max_body_bytes, timeout);
    ssl::stream<tcp::socket&> stream{socket, *tls.context};
    if (!net::prepare_tls_client(stream.native_handle(), tls.server_name, tls.verify))
      co_return failure("tls handshake failed: bad server name");
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
    if (ec) co_return failure(io_error("tls handshake failed", ec, timeout));
    co_return co_await exchange(stream, head, request.max_body_bytes, timeout);
  } catch (const std::exception& e) {
    co_return failure(std::string{"internal error: "} + e.what());
  }
}

}  // namespace

std::string_view HttpResult::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return {};
}

HttpClient::HttpClient() {
  try {
    tls_ = net::make_tls_client_context(net::TlsClientOptions{});
  } catch (const std::exception&) {
    // Without a system store, a context that trusts nothing: every https fetch fails
    // verification, and says so.
    net::TlsClientOptions trust_nothing;
    trust_nothing.verify = false;
    tls_ = net::make_tls_client_context(trust_nothing);
    tls_->set_verify_mode(ssl::verify_peer);
  }
}

asio::awaitable<HttpResult> HttpClient::fetch(HttpRequest request) const {
  return run_fetch(tls_, std::move(request));
}

asio::awaitable<HttpResult> fetch_from(tcp::socket& socket, tcp::endpoint endpoint,
                                       const HttpRequest& request, const net::TlsPeer& tls) {
  auto result = co_await run_fetch_from(socket, endpoint, request, tls);
  boost::system::error_code ignored;
  socket.close(ignored);
  co_return result;
}

}  // namespace portico::control
