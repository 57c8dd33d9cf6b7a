#include "proxy/runtime.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config_loader.h"

namespace portico::proxy {
namespace {

std::shared_ptr<const config::Config> config_from(std::string_view yaml) {
  auto loaded = config::load_config_string(yaml, "test.yaml");
  EXPECT_TRUE(loaded.ok());
  return std::make_shared<config::Config>(*loaded.config);
}

constexpr std::string_view two_upstreams = R"(
upstreams:
  users: {targets: [http://127.0.0.1:9001], circuit_breaker: {consecutive_failures: 2}}
  orders: {targets: [http://127.0.0.1:9002, http://127.0.0.1:9003], balance: consistent_hash}
routes:
  - {match: {prefix: /users}, upstream: users}
  - {match: {prefix: /orders}, upstream: orders}
)";

struct Compiler {
  observability::NameRegistry names;
  observability::SeriesRegistry series;
  std::shared_ptr<const Runtime> compile(std::string_view yaml,
                                         std::shared_ptr<const Runtime> previous = nullptr) {
    CompileServices services{names, series, nullptr, std::move(previous)};
    return compile_runtime(config_from(yaml), 1, services);
  }
};

TEST(CompileRuntime, ARecompileKeepsTheStateOfUnchangedUpstreams) {
  Compiler compiler;
  auto first = compiler.compile(two_upstreams);
  std::string changed(two_upstreams);
  changed.replace(changed.find("consecutive_failures: 2"), 23, "consecutive_failures: 3");
  auto second = compiler.compile(changed, first);
  ASSERT_EQ(second->upstreams.size(), 2u);
  // std::map orders upstreams by name: orders, users.
  EXPECT_EQ(second->upstreams[0].name, "orders");
  EXPECT_EQ(second->upstreams[0].state, first->upstreams[0].state);
  EXPECT_EQ(second->upstreams[0].maglev, first->upstreams[0].maglev);
  EXPECT_NE(second->upstreams[1].state, first->upstreams[1].state);
  auto fresh = compiler.compile(two_upstreams);
  EXPECT_NE(fresh->upstreams[0].state, first->upstreams[0].state);
}

TEST(CompileRuntime, InternsOutcomeSeriesPerTarget) {
  Compiler compiler;
  auto runtime = compiler.compile(two_upstreams);
  const auto& orders = runtime->upstreams[0];
  EXPECT_NE(orders.targets[0].success_series, orders.targets[1].success_series);
  EXPECT_NE(orders.targets[0].success_series, orders.targets[0].retry_series);
  auto series = compiler.series.series();
  EXPECT_EQ(series[orders.targets[1].timeout_series].labels,
            R"(upstream="orders",target="127.0.0.1:9003",outcome="timeout")");
}

TEST(CompileRuntime, BuildsEachRoutesFilterChainInOrder) {
  Compiler compiler;
  auto runtime = compiler.compile(R"(
upstreams: {u: {targets: [http://127.0.0.1:9001]}}
auth: {keys: {type: api_key, keys: {k1: partner}}}
cors: {allow_origins: ["*"]}
routes:
  - {name: guarded, match: {prefix: /a}, upstream: u, cors: true, auth: keys, require_roles: [x]}
  - {name: open, match: {prefix: /b}, upstream: u}
)");
  const auto& guarded = runtime->routes[0].filters;
  ASSERT_EQ(guarded.size(), 3u);
  EXPECT_EQ(guarded[0]->name(), "cors");
  EXPECT_EQ(guarded[1]->name(), "auth");
  EXPECT_EQ(guarded[2]->name(), "rbac");
  EXPECT_TRUE(runtime->routes[1].filters.empty());
}

constexpr std::string_view two_providers = R"(
upstreams: {u: {targets: [http://127.0.0.1:9001]}}
routes:
  - {name: a, match: {prefix: /a}, upstream: u, auth: [tokens, keys]}
auth:
  tokens: {type: jwt, secret: first-secret, audience: [orders]}
  keys: {type: api_key, keys: {k1: partner}}
)";

TEST(CompileRuntime, ARecompileKeepsUnchangedAuthProvidersAndRebuildsChangedOnes) {
  Compiler compiler;
  auto first = compiler.compile(two_providers);
  // A route added above the providers moves their lines, not their config.
  std::string with_route(two_providers);
  with_route.insert(with_route.find("auth:\n"),
                    "  - {name: b, match: {prefix: /b}, upstream: u}\n");
  auto second = compiler.compile(with_route, first);
  EXPECT_EQ(second->auth_providers.at("tokens"), first->auth_providers.at("tokens"));
  EXPECT_EQ(second->auth_providers.at("keys"), first->auth_providers.at("keys"));

  std::string changed(with_route);
  changed.replace(changed.find("[orders]"), 8, "[orders, users]");
  auto third = compiler.compile(changed, second);
  EXPECT_NE(third->auth_providers.at("tokens"), second->auth_providers.at("tokens"));
  EXPECT_EQ(third->auth_providers.at("keys"), second->auth_providers.at("keys"));
  EXPECT_NE(compiler.compile(two_providers)->auth_providers.at("keys"),
            first->auth_providers.at("keys"));
}

TEST(CompileRuntime, AProviderWhoseKeyFileChangedIsRebuilt) {
  auto path = std::filesystem::temp_directory_path() /
              ("portico-runtime-test-keys-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "k1: partner\n";
  const std::string yaml = R"(
upstreams: {u: {targets: [http://127.0.0.1:9001]}}
auth: {keys: {type: api_key, keys_file: ")" +
                           path.string() + R"("}}
routes: [{match: {prefix: /a}, upstream: u, auth: keys}]
)";
  Compiler compiler;
  auto first = compiler.compile(yaml);
  auto second = compiler.compile(yaml, first);
  EXPECT_EQ(second->auth_providers.at("keys"), first->auth_providers.at("keys"));
  std::ofstream(path) << "k2: partner\n";
  auto third = compiler.compile(yaml, second);
  EXPECT_NE(third->auth_providers.at("keys"), second->auth_providers.at("keys"));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace portico::proxy
