#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <map>
#include <stdexcept>
#include <thread>

namespace portico::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  boost::json::object json() const { return boost::json::parse(body).as_object(); }
};

// A deliberately plain HTTP/1.1 client over a POSIX socket: what the server must cope with.
class Client {
 public:
  explicit Client(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::string& raw) {
    std::string_view rest = raw;
    while (!rest.empty()) {
      auto n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  HttpReply request(const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers = {},
                    const std::string& body = {}) {
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers) raw += name + ": " + value + "\r\n";
    if (!body.empty() || method == "POST")
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    raw += "\r\n" + body;
    send(raw);
    return read_reply(method == "HEAD");
  }

  HttpReply read_reply(bool head = false) {
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("connection closed before a response head");
    }
    std::string head_text = pending_.substr(0, end);
    pending_.erase(0, end + 4);

    HttpReply reply;
    std::size_t line_end = head_text.find("\r\n");
    std::string status_line = head_text.substr(0, line_end);
    reply.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      auto start = line_end + 2;
      line_end = head_text.find("\r\n", start);
      auto line = head_text.substr(
          start, line_end == std::string::npos ? std::string::npos : line_end - start);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[name] = value;
    }
    if (head) return reply;
    auto length = std::stoul(reply.header("content-length"));
    while (pending_.size() < length) {
      if (!fill()) throw std::runtime_error("connection closed inside a body");
    }
    reply.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return reply;
  }

  // True when the server closed the connection (rather than the wait timing out).
  bool closed_by_server() {
    char byte;
    return ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  bool fill() {
    char chunk[4096];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    pending_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string pending_;
};

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() {
    hooks_.ready = [this] { return ready_.load(); };
    hooks_.metrics = [] { return std::string{"portico_active_connections 0\n"}; };
    hooks_.routes = [] {
      boost::json::array routes;
      routes.push_back(boost::json::object{{"name", "users"}});
      return boost::json::value(std::move(routes));
    };
    hooks_.upstreams = [] { return boost::json::value(boost::json::array{}); };
    hooks_.config = [] {
      boost::json::object admin{{"token", "***"}};
      return boost::json::value(boost::json::object{{"admin", std::move(admin)}});
    };
    hooks_.reload = [this] { return outcome_; };
  }

  void start(std::string token = {}) {
    config::Endpoint listen{"127.0.0.1", 0, "127.0.0.1:0"};
    server_ = std::make_unique<AdminServer>(io_, listen, std::move(token), hooks_);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  HttpReply get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    Client client{server_->port()};
    return client.request("GET", target, headers);
  }

  static void expect_error_body(const HttpReply& reply, int status) {
    EXPECT_EQ(reply.header("content-type"), "application/json");
    auto body = reply.json();
    EXPECT_TRUE(body["error"].is_string());
    EXPECT_EQ(body["status"].to_number<int>(), status);
    EXPECT_FALSE(body["request_id"].as_string().empty());
  }

  boost::asio::io_context io_;
  AdminHooks hooks_;
  std::atomic<bool> ready_{true};
  ReloadOutcome outcome_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
};

TEST_F(AdminServerTest, BindsAnEphemeralPortWhenAskedForPortZero) {
  start();
  EXPECT_NE(server_->port(), 0);
}

TEST_F(AdminServerTest, RefusesToBindAnAddressInUse) {
  start();
  config::Endpoint taken{"127.0.0.1", server_->port(), "taken"};
  boost::asio::io_context other;
  EXPECT_THROW(AdminServer(other, taken, "", {}), std::system_error);
}

TEST_F(AdminServerTest, HealthAnswersHealthy) {
  start();
  auto reply = get("/health");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.body, R"({"status":"healthy"})");
}

TEST_F(AdminServerTest, ReadyFollowsTheReadyHook) {
  start();
  auto reply = get("/ready");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"status":"ready"})");
  ready_ = false;
  reply = get("/ready");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, R"({"status":"draining"})");
}

TEST_F(AdminServerTest, MetricsUseThePrometheusTextContentType) {
  start();
  auto reply = get("/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_THAT(reply.header("content-type"), ::testing::StartsWith("text/plain; version=0.0.4"));
  EXPECT_EQ(reply.body, "portico_active_connections 0\n");
}

TEST_F(AdminServerTest, AdminEndpointsAnswerJsonFromTheirHooks) {
  start();
  auto routes = get("/admin/routes");
  EXPECT_EQ(routes.status, 200);
  EXPECT_EQ(routes.header("content-type"), "application/json");
  EXPECT_EQ(routes.body, R"([{"name":"users"}])");
  auto config = get("/admin/config");
  EXPECT_EQ(config.status, 200);
  EXPECT_EQ(config.body, R"({"admin":{"token":"***"}})");
  EXPECT_EQ(get("/admin/upstreams").body, "[]");
}

TEST_F(AdminServerTest, AdminEndpointsNeedTheBearerTokenWhenOneIsSet) {
  start("s3cret");
  auto missing = get("/admin/routes");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.header("www-authenticate"), R"(Bearer realm="portico")");
  expect_error_body(missing, 401);

  auto wrong = get("/admin/routes", {{"Authorization", "Bearer s3cre"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.header("www-authenticate"), HasSubstr(R"(error="invalid_token")"));

  auto basic = get("/admin/routes", {{"Authorization", "Basic czNjcmV0"}});
  EXPECT_EQ(basic.status, 401);

  auto good = get("/admin/routes", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(good.status, 200);
  EXPECT_EQ(good.body, R"([{"name":"users"}])");
  EXPECT_EQ(get("/admin/routes", {{"Authorization", "bearer  s3cret"}}).status, 200);
}

TEST_F(AdminServerTest, UnknownAdminPathsNeedTheTokenBeforeTheyAre404) {
  start("s3cret");
  EXPECT_EQ(get("/admin/nothing-here").status, 401);
  EXPECT_EQ(get("/admin/nothing-here", {{"Authorization", "Bearer s3cret"}}).status, 404);
}

TEST_F(AdminServerTest, HealthReadyMetricsAndDashboardStayOpenWithATokenSet) {
  start("s3cret");
  EXPECT_EQ(get("/health").status, 200);
  EXPECT_EQ(get("/ready").status, 200);
  EXPECT_EQ(get("/metrics").status, 200);
  EXPECT_EQ(get("/").status, 200);
}

TEST_F(AdminServerTest, SetTokenReplacesTheTokenForLaterRequests) {
  start("old");
  server_->set_token("new");
  EXPECT_EQ(get("/admin/routes", {{"Authorization", "Bearer old"}}).status, 401);
  EXPECT_EQ(get("/admin/routes", {{"Authorization", "Bearer new"}}).status, 200);
  server_->set_token("");
  EXPECT_EQ(get("/admin/routes").status, 200);
}

TEST_F(AdminServerTest, UnknownPathIs404WithTheJsonErrorBody) {
  start();
  auto reply = get("/nope");
  EXPECT_EQ(reply.status, 404);
  expect_error_body(reply, 404);
}

TEST_F(AdminServerTest, WrongMethodIs405WithAllow) {
  start();
  Client client{server_->port()};
  auto post_health = client.request("POST", "/health");
  EXPECT_EQ(post_health.status, 405);
  EXPECT_EQ(post_health.header("allow"), "GET, HEAD");
  expect_error_body(post_health, 405);
  auto get_reload = client.request("GET", "/admin/reload");
  EXPECT_EQ(get_reload.status, 405);
  EXPECT_EQ(get_reload.header("allow"), "POST");
}

TEST_F(AdminServerTest, ReloadAnswersTheNewVersion) {
  outcome_ = {.ok = true, .version = 7, .errors = {}};
  start();
  Client client{server_->port()};
  auto reply = client.request("POST", "/admin/reload");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"status":"reloaded","version":7})");
}

TEST_F(AdminServerTest, ReloadAnswers400WithEveryConfigError) {
  outcome_ = {.ok = false,
              .version = 3,
              .errors = {"portico.yaml:4:3: routes[0].upstream: unknown upstream \"nope\"",
                         "portico.yaml:9:1: unknown key \"rutes\""}};
  start();
  Client client{server_->port()};
  auto reply = client.request("POST", "/admin/reload");
  EXPECT_EQ(reply.status, 400);
  auto body = reply.json();
  EXPECT_EQ(body["error"], "invalid config");
  EXPECT_EQ(body["status"].to_number<int>(), 400);
  ASSERT_EQ(body["errors"].as_array().size(), 2u);
  EXPECT_EQ(body["errors"].as_array()[1], "portico.yaml:9:1: unknown key \"rutes\"");
}

TEST_F(AdminServerTest, CachePurgeHandsThePrefixToTheHookAndSaysHowMany) {
  std::string asked;
  hooks_.purge_cache = [&](std::string prefix) -> boost::asio::awaitable<std::size_t> {
    asked = prefix;
    co_return 3;
  };
  start();
  Client client{server_->port()};
  auto reply = client.request("DELETE", "/admin/cache?prefix=/users%20a");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.json()["purged"].to_number<int>(), 3);
  EXPECT_EQ(asked, "/users a");
  auto missing = client.request("DELETE", "/admin/cache");
  EXPECT_EQ(missing.status, 400);
  expect_error_body(missing, 400);
  EXPECT_EQ(client.request("DELETE", "/admin/cache?prefix=users").status, 400);
}

TEST_F(AdminServerTest, AnUnsetHookAnswers503AndUnsetStats404) {
  hooks_.upstreams = nullptr;
  hooks_.metrics = nullptr;
  start();
  auto upstreams = get("/admin/upstreams");
  EXPECT_EQ(upstreams.status, 503);
  expect_error_body(upstreams, 503);
  EXPECT_EQ(get("/metrics").status, 503);
  EXPECT_EQ(get("/admin/stats").status, 404);
}

TEST_F(AdminServerTest, StatsAnswersItsHookWhenSet) {
  hooks_.stats = [] { return boost::json::value(boost::json::object{{"config_version", 2}}); };
  start();
  auto reply = get("/admin/stats");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"({"config_version":2})");
}

TEST_F(AdminServerTest, AThrowingHookAnswers500WithoutItsMessage) {
  hooks_.config = []() -> boost::json::value { throw std::runtime_error("secret detail"); };
  start();
  auto reply = get("/admin/config");
  EXPECT_EQ(reply.status, 500);
  EXPECT_THAT(reply.body, Not(HasSubstr("secret detail")));
}

TEST_F(AdminServerTest, KeepsTheConnectionAliveAcrossRequests) {
  start();
  Client client{server_->port()};
  for (int i = 0; i < 3; ++i) {
    auto reply = client.request("GET", "/health");
    EXPECT_EQ(reply.status, 200);
    EXPECT_NE(reply.header("connection"), "close");
  }
  auto last = client.request("GET", "/health", {{"Connection", "close"}});
  EXPECT_EQ(last.status, 200);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(AdminServerTest, EchoesAValidCorrelationIdAndMakesOneOtherwise) {
  start();
  auto echoed = get("/nope", {{"X-Correlation-ID", "abc-123"}});
  EXPECT_EQ(echoed.header("x-correlation-id"), "abc-123");
  EXPECT_EQ(echoed.json()["request_id"], "abc-123");
  auto made = get("/health", {{"X-Correlation-ID", std::string(200, 'a')}});
  EXPECT_FALSE(made.header("x-correlation-id").empty());
  EXPECT_NE(made.header("x-correlation-id"), std::string(200, 'a'));
}

TEST_F(AdminServerTest, HeadAnswersTheLengthWithoutABody) {
  start();
  Client client{server_->port()};
  auto head = client.request("HEAD", "/health");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "20");
  // The connection is still in step: the next response is read whole.
  EXPECT_EQ(client.request("GET", "/health").body, R"({"status":"healthy"})");
}

TEST_F(AdminServerTest, RejectsOversizedHeadersAndBodies) {
  start();
  {
    Client client{server_->port()};
    auto reply = client.request("GET", "/health", {{"X-Big", std::string(17 * 1024, 'h')}});
    EXPECT_EQ(reply.status, 431);
  }
  {
    Client client{server_->port()};
    client.send("POST /admin/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    auto reply = client.read_reply();
    EXPECT_EQ(reply.status, 413);
    expect_error_body(reply, 413);
  }
}

TEST_F(AdminServerTest, MalformedRequestIs400) {
  start();
  Client client{server_->port()};
  client.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(client.read_reply().status, 400);
}

TEST_F(AdminServerTest, ServesASelfContainedDashboardPage) {
  start("s3cret");
  auto reply = get("/");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "text/html; charset=utf-8");
  EXPECT_THAT(reply.header("content-security-policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(reply.body, HasSubstr("<!doctype html>"));
  EXPECT_THAT(reply.body, HasSubstr("/admin/routes"));
  EXPECT_THAT(reply.body, HasSubstr("/admin/upstreams"));
  EXPECT_THAT(reply.body, HasSubstr("Authorization"));
  EXPECT_THAT(reply.body, Not(HasSubstr("src=\"http")));
  EXPECT_THAT(reply.body, Not(HasSubstr("href=\"http")));
}

TEST_F(AdminServerTest, StopClosesIdleConnectionsAndTheListener) {
  start();
  Client idle{server_->port()};
  EXPECT_EQ(idle.request("GET", "/health").status, 200);
  server_->stop();
  EXPECT_TRUE(idle.closed_by_server());
  thread_.join();  // nothing is left for the io_context to do
  EXPECT_THROW(Client{server_->port()}, std::runtime_error);
}

}  // namespace
}  // namespace portico::admin
