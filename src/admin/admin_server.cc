#include "admin/admin_server.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>

#include "admin/dashboard_page.h"
#include "core/error_body.h"
#include "core/forward_headers.h"
#include "core/text.h"

namespace portico::admin {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 16 * 1024;
constexpr std::uint64_t max_body_bytes = 1024 * 1024;
constexpr auto io_timeout = 30s;
constexpr std::string_view request_id_header = "X-Correlation-ID";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Digest = std::array<unsigned char, 32>;

// Tokens are compared by their SHA-256, so the comparison takes the same time whatever the
// length or the first differing byte of what a client sends.
Digest sha256(std::string_view text) {
  Digest digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

std::string random_id() {
  unsigned char bytes[8] = {};
  RAND_bytes(bytes, sizeof bytes);
  std::string id;
  core::append_hex(id, bytes);
  return id;
}

// A client's own correlation id is kept when it is printable and short, as on the main listener.
std::string request_id_of(const Request& req) {
  auto it = req.find(request_id_header);
  if (it == req.end()) return random_id();
  std::string_view id = it->value();
  if (!core::is_valid_request_id(id)) return random_id();
  return std::string{id};
}

using core::trim;

// The credentials of "Bearer <token>"; empty when the header carries another scheme.
std::string_view bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return {};
  }
  auto rest = authorization.substr(scheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') return {};
  return trim(rest);
}

enum class Endpoint {
  Dashboard,
  Health,
  Ready,
  Metrics,
  Routes,
  Upstreams,
  Config,
  Stats,
  Reload,
  Cache
};

struct EndpointSpec {
  std::string_view path;
  http::verb verb;  // get also admits head
  Endpoint endpoint;
};

constexpr EndpointSpec endpoints[] = {
    {"/", http::verb::get, Endpoint::Dashboard},
    {"/health", http::verb::get, Endpoint::Health},
    {"/ready", http::verb::get, Endpoint::Ready},
    {"/metrics", http::verb::get, Endpoint::Metrics},
    {"/admin/routes", http::verb::get, Endpoint::Routes},
    {"/admin/upstreams", http::verb::get, Endpoint::Upstreams},
    {"/admin/config", http::verb::get, Endpoint::Config},
    {"/admin/stats", http::verb::get, Endpoint::Stats},
    {"/admin/reload", http::verb::post, Endpoint::Reload},
    {"/admin/cache", http::verb::delete_, Endpoint::Cache},
};

std::string_view allow_of(http::verb verb) {
  switch (verb) {
    case http::verb::get:
      return "GET, HEAD";
    case http::verb::post:
      return "POST";
    case http::verb::delete_:
      return "DELETE";
    default:
      return "";
  }
}

// What an endpoint answers, before it becomes an HTTP response.
struct Reply {
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::string_view allow;             // on 405
  std::string_view www_authenticate;  // on 401
  bool html = false;
  std::optional<std::string> purge_prefix;  // DELETE /admin/cache: the answer is the purge's
};

// A query parameter of an origin-form target, percent-decoded; nullopt when absent.
std::optional<std::string> query_parameter(std::string_view target, std::string_view name) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  auto params = url->params();
  auto it = params.find(name);
  if (it == params.end() || !(*it).has_value) return std::nullopt;
  return std::string((*it).value);
}

Reply text_reply(int status, std::string body, std::string_view content_type = "application/json") {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.content_type = content_type;
  return reply;
}

Reply json_reply(int status, const boost::json::value& value) {
  return text_reply(status, boost::json::serialize(value));
}

Reply error_reply(int status, std::string_view message, std::string_view request_id) {
  Reply reply;
  reply.status = status;
  core::append_error_body(reply.body, status, message, request_id);
  return reply;
}

Response to_response(Reply reply, const Request* req, std::string_view request_id) {
  Response res{static_cast<http::status>(reply.status), req ? req->version() : 11};
  res.set(http::field::content_type, reply.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set(request_id_header, request_id);
  if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
  if (!reply.www_authenticate.empty())
    res.set(http::field::www_authenticate, reply.www_authenticate);
  if (reply.html) {
    // The page is self-contained: it may talk to this listener and nothing else.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; frame-ancestors 'none'");
  }
  if (req && req->method() == http::verb::head) {
    res.content_length(reply.body.size());
  } else {
    res.body() = std::move(reply.body);
    res.prepare_payload();
  }
  return res;
}

// Status to answer a request that could not be read, or 0 to just close the connection.
int read_error_status(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;  // timeout, reset, cancelled by stop()
}

// After an error answer the client may still be sending: closing with its bytes unread would
// reset the connection, which can destroy the answer before the client has read it.
asio::awaitable<void> drain_before_close(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(1s);
  std::array<char, 4096> scratch;
  for (std::size_t drained = 0; drained < 256 * 1024;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
    if (ec) break;
    drained += n;
  }
}

// One client connection; lives in its coroutine's frame.
struct Connection {
  beast::tcp_stream stream;
  bool reading = false;  // waiting for a request, so stop() may cut it short
};

}  // namespace

// Shared by the AdminServer and every coroutine it spawned, so that either may end first.
// Everything but `stopping` and the token is touched only on the io_context's (one) thread.
struct AdminServer::State {
  State(asio::io_context& io, AdminHooks hooks) : io(io), acceptor(io), hooks(std::move(hooks)) {}

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> self);
  static asio::awaitable<void> serve(std::shared_ptr<State> self, tcp::socket socket);
  Reply answer(const Request& req, std::string_view request_id);
  std::optional<Reply> check_token(const Request& req, std::string_view request_id);
  Reply reload(std::string_view request_id);
  asio::awaitable<Reply> purge(std::string prefix);

  asio::io_context& io;
  tcp::acceptor acceptor;
  AdminHooks hooks;
  unsigned short port = 0;
  std::atomic<bool> stopping{false};
  // set_token() may come from any thread; the admin listener is far from the request path.
  std::mutex token_mutex;
  bool has_token = false;
  Digest token_digest{};
  std::unordered_map<std::uint64_t, Connection*> connections;
  std::uint64_t next_connection = 0;
};

asio::awaitable<void> AdminServer::State::accept_loop(std::shared_ptr<State> self) {
  while (!self->stopping) {
    auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: pause instead of spinning on the same error.
      asio::steady_timer pause{self->io, 100ms};
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(self->io, serve(self, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::State::serve(std::shared_ptr<State> self, tcp::socket socket) {
  Connection conn{beast::tcp_stream{std::move(socket)}};
  auto id = self->next_connection++;
  self->connections.emplace(id, &conn);
  struct Forget {
    State& state;
    std::uint64_t id;
    ~Forget() { state.connections.erase(id); }
  } forget{*self, id};

  beast::flat_buffer buffer;
  while (!self->stopping) {
    http::request_parser<http::string_body> parser;  // a parser serves one message
    parser.header_limit(max_header_bytes);
    parser.body_limit(max_body_bytes);
    conn.reading = true;
    conn.stream.expires_after(io_timeout);
    auto [ec, n] = co_await http::async_read(conn.stream, buffer, parser, use_tuple);
    conn.reading = false;

    Response res;
    bool keep_alive = false;
    bool unread_input = false;
    if (ec) {
      unread_input = true;
      int status = read_error_status(ec);
      if (status == 0) break;
      auto request_id = random_id();
      res = to_response(error_reply(status, core::default_error_message(status), request_id),
                        nullptr, request_id);
    } else {
      const auto& req = parser.get();
      auto request_id = request_id_of(req);
      Reply reply;
      try {
        reply = self->answer(req, request_id);
      } catch (const std::exception&) {
        // A hook failed; its text may hold internal detail, so the client gets none of it.
        reply = error_reply(500, "internal error", request_id);
      }
      if (reply.purge_prefix) reply = co_await self->purge(std::move(*reply.purge_prefix));
      res = to_response(std::move(reply), &req, request_id);
      keep_alive = req.keep_alive() && !self->stopping;
    }
    res.keep_alive(keep_alive);
    conn.stream.expires_after(io_timeout);
    auto [write_ec, written] = co_await http::async_write(conn.stream, res, use_tuple);
    if (!write_ec && unread_input) co_await drain_before_close(conn.stream);
    if (write_ec || !keep_alive) break;
  }
  beast::error_code ignored;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn.stream.socket().close(ignored);
}

std::optional<Reply> AdminServer::State::check_token(const Request& req,
                                                     std::string_view request_id) {
  Digest expected;
  {
    std::lock_guard lock{token_mutex};
    if (!has_token) return std::nullopt;
    expected = token_digest;
  }
  auto it = req.find(http::field::authorization);
  std::string_view presented = it == req.end() ? std::string_view{} : bearer_token(it->value());
  if (!presented.empty()) {
    auto digest = sha256(presented);
    if (CRYPTO_memcmp(digest.data(), expected.data(), digest.size()) == 0) return std::nullopt;
  }
  auto reply = error_reply(
      401, presented.empty() ? "authentication required" : "invalid admin token", request_id);
  reply.www_authenticate = presented.empty() ? R"(Bearer realm="portico")"
                                             : R"(Bearer realm="portico", error="invalid_token")";
  return reply;
}

asio::awaitable<Reply> AdminServer::State::purge(std::string prefix) {
  std::size_t purged = 0;
  if (hooks.purge_cache) purged = co_await hooks.purge_cache(std::move(prefix));
  boost::json::object body;
  body["purged"] = purged;
  co_return json_reply(200, body);
}

Reply AdminServer::State::reload(std::string_view request_id) {
  auto outcome = hooks.reload();
  if (outcome.ok) {
    boost::json::object body;
    body["status"] = "reloaded";
    body["version"] = outcome.version;
    return json_reply(200, body);
  }
  boost::json::array errors;
  for (const auto& e : outcome.errors) errors.emplace_back(e);
  boost::json::object body;
  body["error"] = "invalid config";
  body["status"] = 400;
  body["request_id"] = request_id;
  body["errors"] = std::move(errors);
  return json_reply(400, body);
}

Reply AdminServer::State::answer(const Request& req, std::string_view request_id) {
  std::string_view target = req.target();
  auto path = target.substr(0, target.find('?'));

  // Checked before the path is looked up, so that without a token nothing under /admin/ can be
  // probed for existence.
  if (path == "/admin" || path.starts_with("/admin/")) {
    if (auto refused = check_token(req, request_id)) return std::move(*refused);
  }

  const EndpointSpec* spec = nullptr;
  for (const auto& e : endpoints) {
    if (e.path == path) spec = &e;
  }
  if (!spec) return error_reply(404, "no such admin endpoint", request_id);
  auto method = req.method();
  bool method_ok =
      method == spec->verb || (spec->verb == http::verb::get && method == http::verb::head);
  if (!method_ok) {
    auto reply = error_reply(405, core::default_error_message(405), request_id);
    reply.allow = allow_of(spec->verb);
    return reply;
  }

  auto unavailable = [&] { return error_reply(503, "not available", request_id); };
  switch (spec->endpoint) {
    case Endpoint::Dashboard: {
      auto reply = text_reply(200, std::string{dashboard_page()}, "text/html; charset=utf-8");
      reply.html = true;
      return reply;
    }
    case Endpoint::Health:
      return text_reply(200, R"({"status":"healthy"})");
    case Endpoint::Ready:
      if (!hooks.ready) return unavailable();
      return hooks.ready() ? text_reply(200, R"({"status":"ready"})")
                           : text_reply(503, R"({"status":"draining"})");
    case Endpoint::Metrics:
      if (!hooks.metrics) return unavailable();
      return text_reply(200, hooks.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    case Endpoint::Routes:
      return hooks.routes ? json_reply(200, hooks.routes()) : unavailable();
    case Endpoint::Upstreams:
      return hooks.upstreams ? json_reply(200, hooks.upstreams()) : unavailable();
    case Endpoint::Config:
      return hooks.config ? json_reply(200, hooks.config()) : unavailable();
    case Endpoint::Stats:
      return hooks.stats ? json_reply(200, hooks.stats())
                         : error_reply(404, "no such admin endpoint", request_id);
    case Endpoint::Reload:
      return hooks.reload ? reload(request_id) : unavailable();
    case Endpoint::Cache: {
      auto prefix = query_parameter(target, "prefix");
      if (!prefix || !prefix->starts_with("/"))
        return error_reply(400, "prefix=/path is required (prefix=/ purges every entry)",
                           request_id);
      Reply reply;
      reply.purge_prefix = std::move(*prefix);
      return reply;
    }
  }
  return error_reply(500, "internal error", request_id);
}

namespace {

tcp::endpoint resolve(asio::io_context& io, const config::Endpoint& listen) {
  beast::error_code ec;
  auto address = asio::ip::make_address(listen.host, ec);
  if (!ec) return {address, listen.port};
  tcp::resolver resolver{io};
  auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
  if (ec || results.empty()) {
    throw std::system_error(
        ec ? std::error_code(ec) : std::make_error_code(std::errc::invalid_argument),
        "admin listener " + listen.text);
  }
  return results.begin()->endpoint();
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, const config::Endpoint& listen, std::string token,
                         AdminHooks hooks)
    : state_(std::make_shared<State>(io, std::move(hooks))) {
  set_token(std::move(token));
  auto endpoint = resolve(io, listen);
  auto& acceptor = state_->acceptor;
  beast::error_code ec;
  auto check = [&](const char* what) {
    if (ec)
      throw std::system_error(std::error_code(ec), "admin listener " + listen.text + ": " + what);
  };
  acceptor.open(endpoint.protocol(), ec);
  check("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  check("SO_REUSEADDR");
  acceptor.bind(endpoint, ec);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check("listen");
  state_->port = acceptor.local_endpoint(ec).port();
  check("local address");
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  asio::co_spawn(state_->io, State::accept_loop(state_), asio::detached);
}

void AdminServer::stop() {
  auto state = state_;
  if (state->stopping.exchange(true)) return;
  asio::dispatch(state->io, [state] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    // A connection in the middle of an exchange sees `stopping` once it has answered.
    for (auto& [id, conn] : state->connections) {
      if (conn->reading) conn->stream.cancel();
    }
  });
}

void AdminServer::set_token(std::string token) {
  std::lock_guard lock{state_->token_mutex};
  state_->has_token = !token.empty();
  state_->token_digest = sha256(token);
}

unsigned short AdminServer::port() const {
  return state_->port;
}

}  // namespace portico::admin
