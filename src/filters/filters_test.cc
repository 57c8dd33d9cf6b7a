// Behaviour of the auth, api key, rbac and cors filters through a request context, as a route's
// chain runs them.
#include <gtest/gtest.h>

#include "filters/all_filters.h"
#include "filters/api_key/api_key_provider.h"
#include "filters/auth/auth_filter.h"
#include "filters/cors/cors_filter.h"
#include "filters/rbac/rbac_filter.h"

namespace portico::filters {
namespace {

struct TestRequest {
  core::RequestHead head;
  observability::MetricsShard metrics;
  proxy::RequestContext ctx;

  TestRequest(std::string_view method, std::vector<core::HeaderField> fields) {
    head.method = method;
    head.path = "/orders";
    head.fields = std::move(fields);
    ctx.head = &head;
    ctx.route_name = "orders";
    ctx.metrics = &metrics;
  }
};

std::string_view header_of(const proxy::LocalReply& reply, std::string_view name) {
  for (const auto& [field, value] : reply.headers)
    if (core::iequals(field, name)) return value;
  return {};
}

auth::AuthProviderConfig api_key_config() {
  auth::AuthProviderConfig c;
  c.name = "partners";
  c.type = "api_key";
  c.header = "X-API-Key";
  c.keys = {{"k-123", "partner-a"}, {"k-456", "partner-b"}};
  return c;
}

struct AuthFixture : ::testing::Test {
  observability::SeriesRegistry series;
  std::shared_ptr<auth::AuthProvider> keys =
      std::make_shared<api_key::ApiKeyProvider>(api_key_config());
  auth::AuthFilter filter{"orders", {keys}, series};

  std::uint64_t failures(const TestRequest& r, std::string_view reason) {
    auto id = series.id_of(observability::Family::AuthFailures,
                           {{"route", "orders"}, {"provider", "partners"}, {"reason", reason}});
    const auto& counters = r.metrics.counters();
    return id < counters.size() ? counters[id] : 0;
  }
};

TEST_F(AuthFixture, AValidKeyPassesAndNamesTheConsumer) {
  TestRequest r("GET", {{"X-API-Key", "k-456"}});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Continue);
  EXPECT_EQ(r.ctx.identity.consumer, "partner-b");
  EXPECT_EQ(r.ctx.identity.provider, "partners");
}

TEST_F(AuthFixture, AMissingKeyIsRefusedWithoutAnErrorCode) {
  TestRequest r("GET", {});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 401);
  EXPECT_EQ(header_of(r.ctx.reply, "WWW-Authenticate"), "Bearer realm=\"portico\"");
  EXPECT_EQ(failures(r, "missing"), 1u);
}

TEST_F(AuthFixture, AWrongKeyIsRefusedAsInvalid) {
  TestRequest r("GET", {{"X-API-Key", "k-12"}});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 401);
  EXPECT_NE(header_of(r.ctx.reply, "WWW-Authenticate").find("error=\"invalid_token\""),
            std::string::npos);
  EXPECT_FALSE(r.ctx.identity.authenticated());
  EXPECT_EQ(failures(r, "invalid_key"), 1u);
}

TEST(AuthFilter, AnyOneProviderPassingIsEnough) {
  observability::SeriesRegistry series;
  auto a = api_key_config();
  auto b = api_key_config();
  b.name = "internal";
  b.header = "X-Internal-Key";
  b.keys = {{"secret", "ops"}};
  auth::AuthFilter filter{
      "orders",
      {std::make_shared<api_key::ApiKeyProvider>(a), std::make_shared<api_key::ApiKeyProvider>(b)},
      series};
  TestRequest r("GET", {{"X-API-Key", "nope"}, {"X-Internal-Key", "secret"}});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Continue);
  EXPECT_EQ(r.ctx.identity.consumer, "ops");
}

TEST(RbacFilter, NeedsAnyRoleAndEveryScope) {
  observability::SeriesRegistry series;
  rbac::RbacFilter filter{"orders", {"admin", "ops"}, {"orders:read", "orders:write"}, series};
  std::vector<std::string> roles = {"viewer", "ops"};
  std::vector<std::string> scopes = {"orders:read"};
  TestRequest r("GET", {});
  r.ctx.identity.provider = "jwt";
  r.ctx.identity.roles = roles;
  r.ctx.identity.scopes = scopes;
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 403);
  scopes.push_back("orders:write");
  r.ctx.identity.scopes = scopes;
  r.ctx.reply = {};
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Continue);
  roles = {"viewer"};
  r.ctx.identity.roles = roles;
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 403);
}

TEST(RbacFilter, RefusesAnUnauthenticatedRequestWith401) {
  observability::SeriesRegistry series;
  rbac::RbacFilter filter{"orders", {"admin"}, {}, series};
  TestRequest r("GET", {});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 401);
}

config::CorsConfig cors_config() {
  config::CorsConfig c;
  c.allow_origins = {"https://app.example"};
  c.allow_methods = {"GET", "POST"};
  c.allow_headers = {"Authorization", "Content-Type"};
  c.expose_headers = {"X-Correlation-ID"};
  c.allow_credentials = true;
  c.max_age = std::chrono::minutes(10);
  return c;
}

TEST(CorsFilter, AnswersAnAllowedPreflight) {
  cors::CorsFilter filter{cors_config()};
  TestRequest r("OPTIONS", {{"Origin", "https://app.example"},
                            {"Access-Control-Request-Method", "POST"},
                            {"Access-Control-Request-Headers", "content-type, authorization"}});
  EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 204);
  EXPECT_EQ(r.ctx.reply.body_kind, proxy::LocalReply::Body::Empty);
  const auto& reply = r.ctx.reply;
  EXPECT_EQ(header_of(reply, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(header_of(reply, "Vary"), "Origin");
  EXPECT_EQ(header_of(reply, "Access-Control-Allow-Methods"), "GET, POST");
  EXPECT_EQ(header_of(reply, "Access-Control-Allow-Headers"), "Authorization, Content-Type");
  EXPECT_EQ(header_of(reply, "Access-Control-Max-Age"), "600");
  EXPECT_EQ(header_of(reply, "Access-Control-Allow-Credentials"), "true");
}

TEST(CorsFilter, RefusesAPreflightFromAnOtherOriginMethodOrHeader) {
  cors::CorsFilter filter{cors_config()};
  for (auto fields : std::vector<std::vector<core::HeaderField>>{
           {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}},
           {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "DELETE"}},
           {{"Origin", "https://app.example"},
            {"Access-Control-Request-Method", "GET"},
            {"Access-Control-Request-Headers", "X-Secret"}}}) {
    TestRequest r("OPTIONS", fields);
    EXPECT_EQ(filter.on_request(r.ctx), proxy::Next::Respond);
    EXPECT_EQ(r.ctx.reply.status, 403);
  }
}

TEST(CorsFilter, AddsResponseHeadersForAnAllowedOriginOnly) {
  cors::CorsFilter filter{cors_config()};
  TestRequest allowed("GET", {{"Origin", "https://app.example"}});
  EXPECT_EQ(filter.on_request(allowed.ctx), proxy::Next::Continue);
  core::ResponseHead head;
  EXPECT_EQ(filter.on_response(allowed.ctx, head), proxy::Next::Continue);
  EXPECT_EQ(head.find("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(head.find("Access-Control-Expose-Headers"), "X-Correlation-ID");
  TestRequest other("GET", {{"Origin", "https://evil.example"}});
  head.clear();
  filter.on_response(other.ctx, head);
  EXPECT_TRUE(head.fields.empty());
}

TEST(CorsFilter, AWildcardWithoutCredentialsAnswersStar) {
  auto c = cors_config();
  c.allow_origins = {"*"};
  c.allow_credentials = false;
  cors::CorsFilter filter{c};
  TestRequest r("GET", {{"Origin", "https://any.example"}});
  core::ResponseHead head;
  filter.on_response(r.ctx, head);
  EXPECT_EQ(head.find("Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(head.has("Access-Control-Allow-Credentials"));
}

}  // namespace
}  // namespace portico::filters
