#include "config/config_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "config/config_loader.h"
#include "config/config_schema.h"

namespace portico::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const Config> load_ok(std::string_view yaml) {
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "JWT_SECRET") return "jwt-secret-value";
    if (name == "ADMIN_TOKEN") return "admin-token-value";
    return std::nullopt;
  };
  auto result = load_config_string(yaml, "portico.yaml", env);
  std::string errors;
  for (const auto& error : result.errors) errors += error.to_string() + "\n";
  EXPECT_TRUE(result.ok()) << errors;
  return result.config;
}

TEST(ConfigJson, MasksEverySecret) {
  auto config = load_ok(R"(
admin: {listen: 127.0.0.1:9901, token: "${ADMIN_TOKEN}"}
auth:
  jwt: {type: jwt, secret: "${JWT_SECRET}"}
  keys: {type: api_key, keys: {key-value-1: partner-a}}
  idp: {type: oauth2_introspection, url: "http://idp:9000/i", client_id: portico,
        client_secret: introspect-secret-value}
rate_limits:
  store: redis
  redis: {url: "redis://:url-password-value@127.0.0.1:6379/0", password: redis-password-value}
cache:
  redis: {url: "redis://user:cache-password-value@127.0.0.1:6379/1"}
)");
  ASSERT_NE(config, nullptr);
  std::string text = boost::json::serialize(config_to_json(*config));
  for (auto secret :
       {"admin-token-value", "jwt-secret-value", "key-value-1", "introspect-secret-value",
        "url-password-value", "redis-password-value", "cache-password-value"}) {
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  }
  auto json = boost::json::parse(text).as_object();
  EXPECT_EQ(json["admin"].at("token"), "***");
  EXPECT_EQ(json["auth"].at("jwt").at("secret"), "***");
  EXPECT_EQ(json["auth"].at("keys").at("keys").at(0).at("consumer"), "partner-a");
  EXPECT_EQ(json["auth"].at("idp").at("client_secret"), "***");
  EXPECT_EQ(json["rate_limits"].at("redis").at("url"), "redis://:***@127.0.0.1:6379/0");
  EXPECT_EQ(json["rate_limits"].at("redis").at("password"), "***");
  EXPECT_EQ(json["cache"].at("redis").at("url"), "redis://user:***@127.0.0.1:6379/1");
}

TEST(ConfigJson, ShowsTheEffectiveConfigInTheFilesNotation) {
  auto config = load_ok(R"(
upstreams:
  users: {targets: [http://127.0.0.1:8081], timeouts: {connect: 1500ms}}
routes:
  - {name: ping, match: {path: /ping}, respond: {body: pong}}
  - {match: {prefix: /users}, upstream: users, timeout: 2m}
)");
  ASSERT_NE(config, nullptr);
  auto json = config_to_json(*config).as_object();
  EXPECT_EQ(json["server"].at("listen").at(0), "0.0.0.0:8080");
  EXPECT_EQ(json["server"].at("workers"), "auto");
  EXPECT_EQ(json["admin"].at("listen"), nullptr);
  auto& users = json["upstreams"].at("users");
  EXPECT_EQ(users.at("timeouts").at("connect"), "1500ms");
  EXPECT_EQ(users.at("timeouts").at("request"), "30s");
  EXPECT_EQ(json["routes"].at(0).at("respond").at("status"), 200);
  EXPECT_EQ(json["routes"].at(1).at("name"), "/users");
  EXPECT_EQ(json["routes"].at(1).at("match").at("prefix"), "/users");
  EXPECT_EQ(json["routes"].at(1).at("timeout"), "2m");
  EXPECT_EQ(json["admin"].at("token"), "");
}

TEST(ConfigJson, FormatsDurationsWithTheLargestExactUnit) {
  EXPECT_EQ(format_duration(std::chrono::milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(std::chrono::seconds(2)), "2s");
  EXPECT_EQ(format_duration(std::chrono::seconds(90)), "90s");
  EXPECT_EQ(format_duration(std::chrono::minutes(5)), "5m");
  EXPECT_EQ(format_duration(std::chrono::hours(2)), "2h");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(0)), "0s");
}

TEST(ConfigJson, MasksOnlyThePasswordOfAUrl) {
  EXPECT_EQ(mask_url_password("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
  EXPECT_EQ(mask_url_password("redis://:pw@h:1/0"), "redis://:***@h:1/0");
  EXPECT_EQ(mask_url_password("rediss://u:pw@h:1"), "rediss://u:***@h:1");
  EXPECT_EQ(mask_url_password("redis://pw@h:1"), "redis://:***@h:1");
  EXPECT_EQ(mask_url_password("http://h/path@x"), "http://h/path@x");
}

TEST(ConfigSchema, IsAJsonSchemaCoveringEverySection) {
  boost::system::error_code ec;
  auto schema = boost::json::parse(config_json_schema(), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
  const auto& properties = schema.at("properties").as_object();
  for (auto section : {"server", "admin", "upstreams", "auth", "rate_limits", "cache",
                       "compression", "cors", "observability", "defaults", "routes", "watch"}) {
    EXPECT_TRUE(properties.contains(section)) << section;
  }
  const auto& route = schema.at("$defs").at("route").at("properties").as_object();
  for (auto key :
       {"name", "match", "upstream", "strip_prefix", "rewrite", "set_headers", "remove_headers",
        "response_headers", "auth", "require_roles", "require_scopes", "rate_limit", "cache",
        "compress", "timeout", "cors", "aggregate", "grpc", "respond"}) {
    EXPECT_TRUE(route.contains(key)) << key;
  }
}

}  // namespace
}  // namespace portico::config
