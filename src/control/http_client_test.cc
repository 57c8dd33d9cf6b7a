#include "control/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "control/test_server.h"
#include "net/tls_client.h"

namespace portico::control {
namespace {

using namespace std::chrono_literals;
using test::TestServer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { control_.start(); }

  HttpResult fetch(HttpRequest request) { return test::run_on(control_, client_.fetch(request)); }
  HttpResult get(const std::string& url) {
    HttpRequest request;
    request.url = url;
    return fetch(request);
  }

  ControlPlane control_;
  HttpClient client_;
};

TEST_F(HttpClientTest, GetsStatusHeadersAndBody) {
  TestServer server;
  server.answer(200, "hello");
  auto result = get(server.url("/things?id=7"));
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "hello");
  EXPECT_EQ(result.header("x-test-server"), "yes");
  EXPECT_EQ(result.header("Content-Type"), "text/plain");
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/things?id=7");
  EXPECT_EQ(seen[0].header("Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].header("User-Agent"), "portico");
  EXPECT_EQ(seen[0].header("Connection"), "close");
}

TEST_F(HttpClientTest, ReturnsErrorStatusesAsResults) {
  TestServer server;
  server.answer(503, "later");
  auto result = get(server.url());
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 503);
  EXPECT_EQ(result.body, "later");
}

TEST_F(HttpClientTest, PostsBodyAndHeaders) {
  TestServer server;
  HttpRequest request;
  request.method = "POST";
  request.url = server.url("/introspect");
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Authorization", "Basic Y2xpZW50OnNlY3JldA=="},
                     {"Host", "auth.example"}};
  request.body = "token=abc&token_type_hint=access_token";
  auto result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/introspect");
  EXPECT_EQ(seen[0].body, request.body);
  EXPECT_EQ(seen[0].header("Content-Length"), std::to_string(request.body.size()));
  EXPECT_EQ(seen[0].header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(seen[0].header("Authorization"), "Basic Y2xpZW50OnNlY3JldA==");
  EXPECT_EQ(seen[0].header("Host"), "auth.example");
}

TEST_F(HttpClientTest, TimesOutWhenTheServerNeverAnswers) {
  TestServer server;
  server.set_mode(TestServer::Mode::Hang);
  HttpRequest request;
  request.url = server.url();
  request.timeout = 200ms;
  auto started = std::chrono::steady_clock::now();
  auto result = fetch(request);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.error, "timed out");
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 200ms + 1s);
  // The client closed its end: the server sees it.
  EXPECT_TRUE(test::eventually([&] { return server.hung_up() == 1; }));
}

TEST_F(HttpClientTest, RefusedConnectionIsAnError) {
  auto result = get("http://127.0.0.1:" + std::to_string(test::closed_port()) + "/");
  EXPECT_THAT(result.error, StartsWith("connect failed"));
  EXPECT_EQ(result.status, 0);
}

TEST_F(HttpClientTest, TooLargeResponseIsAnError) {
  TestServer server;
  server.answer(200, std::string(5000, 'x'));
  HttpRequest request;
  request.url = server.url();
  request.max_body_bytes = 4096;
  EXPECT_EQ(fetch(request).error, "response too large");
  request.max_body_bytes = 5000;
  auto result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body.size(), 5000u);
}

TEST_F(HttpClientTest, ServerClosingWithoutAnswerIsAnError) {
  TestServer server;
  server.set_mode(TestServer::Mode::Close);
  auto result = get(server.url());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status, 0);
}

TEST_F(HttpClientTest, BadUrlsAreErrors) {
  for (const char* url : {"", "not a url", "127.0.0.1:80/", "ftp://127.0.0.1/", "http://",
                          "http:///path", "http://user:pass@127.0.0.1/", "http://127.0.0.1:99999/",
                          "http://127.0.0.1:0/", "http://[::1/"}) {
    auto result = get(url);
    EXPECT_THAT(result.error, StartsWith("bad url")) << url;
  }
}

TEST_F(HttpClientTest, RejectsHeaderInjection) {
  TestServer server;
  HttpRequest request;
  request.url = server.url();
  request.headers = {{"X-Ok", "fine\r\nX-Evil: 1"}};
  EXPECT_THAT(fetch(request).error, StartsWith("bad header"));
  request.headers = {{"Bad Name", "x"}};
  EXPECT_THAT(fetch(request).error, StartsWith("bad header"));
  request.headers = {};
  request.method = "GET /x";
  EXPECT_EQ(fetch(request).error, "bad method");
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTest, ResolvesHostNames) {
  TestServer server;
  server.answer(200, "by name");
  auto result = get("http://localhost:" + std::to_string(server.port()) + "/");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, "by name");
}

TEST_F(HttpClientTest, MayBeDestroyedWhileAFetchIsInFlight) {
  TestServer server;
  server.set_mode(TestServer::Mode::Hang);
  HttpRequest request;
  request.url = server.url();
  request.timeout = 100ms;
  auto client = std::make_unique<HttpClient>();
  auto task = client->fetch(request);
  client.reset();
  EXPECT_EQ(test::run_on(control_, std::move(task)).error, "timed out");
}

class HttpsTest : public HttpClientTest {
 protected:
  test::TestCertificate certificate_;
  TestServer server_{&certificate_};
};

TEST_F(HttpsTest, FetchesWithTheCaFile) {
  server_.answer(200, "secret");
  HttpRequest request;
  request.url = server_.url("/keys");
  request.ca_file = certificate_.ca_file.string();
  auto result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "secret");
  EXPECT_EQ(server_.last_server_name(), "");  // no SNI for an address
}

TEST_F(HttpsTest, SendsTheHostNameAsSni) {
  HttpRequest request;
  request.url = "https://localhost:" + std::to_string(server_.port()) + "/";
  request.ca_file = certificate_.ca_file.string();
  auto result = fetch(request);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(server_.last_server_name(), "localhost");
}

TEST_F(HttpsTest, RejectsAnUntrustedCertificate) {
  auto result = get(server_.url());
  EXPECT_THAT(result.error, StartsWith("tls handshake failed"));
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(HttpClientTest, RejectsATrustedCertificateForAnotherHost) {
  test::TestCertificate certificate{"DNS:other.example"};
  TestServer server{&certificate};
  HttpRequest request;
  request.url = server.url();
  request.ca_file = certificate.ca_file.string();
  EXPECT_THAT(fetch(request).error, StartsWith("tls handshake failed"));
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpsTest, MissingCaFileIsAnError) {
  HttpRequest request;
  request.url = server_.url();
  request.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(fetch(request).error, StartsWith("bad ca file"));
}

TEST_F(HttpsTest, TimesOutDuringTheHandshake) {
  // A plain server that accepts but never speaks TLS.
  TestServer plain;
  plain.set_mode(TestServer::Mode::Hang);
  HttpRequest request;
  request.url = "https://127.0.0.1:" + std::to_string(plain.port()) + "/";
  request.ca_file = certificate_.ca_file.string();
  request.timeout = 200ms;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch(request).error, "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 200ms + 1s);
}

// Health probes of https:// targets: fetch_from with a TLS peer.
class FetchFromTlsTest : public HttpsTest {
 protected:
  HttpResult probe(net::TlsPeer tls) {
    boost::asio::ip::tcp::socket socket{control_.executor()};
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(server_.port()) + "/health";
    request.timeout = 2s;
    boost::asio::ip::tcp::endpoint endpoint{boost::asio::ip::make_address("127.0.0.1"),
                                            server_.port()};
    return test::run_on(control_, fetch_from(socket, endpoint, request, tls));
  }
  net::TlsPeer trusting(std::string server_name) {
    net::TlsClientOptions options;
    options.ca_file = certificate_.ca_file.string();
    return {net::make_tls_client_context(options), std::move(server_name), true};
  }
};

TEST_F(FetchFromTlsTest, ProbesOverTlsWhenGivenAPeer) {
  server_.answer(204, "");
  auto result = probe(trusting("127.0.0.1"));
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 204);
  ASSERT_EQ(server_.requests(), 1);
  EXPECT_EQ(server_.seen()[0].target, "/health");
}

TEST_F(FetchFromTlsTest, SendsTheServerNameAndChecksIt) {
  EXPECT_TRUE(probe(trusting("localhost")).ok());
  EXPECT_EQ(server_.last_server_name(), "localhost");
  EXPECT_THAT(probe(trusting("elsewhere.example")).error, StartsWith("tls handshake failed"));
}

TEST_F(FetchFromTlsTest, WithoutVerificationAnyCertificateIsAccepted) {
  net::TlsClientOptions options;
  options.verify = false;
  auto result = probe({net::make_tls_client_context(options), "elsewhere.example", false});
  ASSERT_TRUE(result.ok()) << result.error;
}

TEST(TlsClientContext, NamesTheFileItCannotRead) {
  net::TlsClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT([&] { net::make_tls_client_context(options); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("/nonexistent/ca.pem")));
}

TEST(TlsClientContext, RefusesAKeyThatDoesNotMatchTheCertificate) {
  test::TestCertificate one, other;
  auto key_file = std::filesystem::path(other.ca_file).replace_extension(".key");
  std::ofstream{key_file} << other.key_pem;
  net::TlsClientOptions options;
  options.cert_file = one.ca_file.string();
  options.key_file = key_file.string();
  EXPECT_THAT([&] { net::make_tls_client_context(options); },
              ::testing::ThrowsMessage<std::runtime_error>(HasSubstr("key values mismatch")));
  std::filesystem::remove(key_file);
}

}  // namespace
}  // namespace portico::control
