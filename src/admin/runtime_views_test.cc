// The admin views of a compiled snapshot: what GET /admin/routes and /admin/upstreams answer.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "admin/routes_view.h"
#include "admin/upstreams_view.h"
#include "config/config_loader.h"

namespace portico::admin {
namespace {

namespace json = boost::json;

constexpr std::string_view config_yaml = R"(
upstreams:
  users: {targets: [http://127.0.0.1:9001]}
routes:
  - {match: {prefix: /users, methods: [GET]}, upstream: users, strip_prefix: /users}
  - {match: {path: /ping}, respond: {status: 200, body: pong}}
)";

struct Snapshot {
  observability::NameRegistry names;
  observability::SeriesRegistry series;
  std::shared_ptr<const proxy::Runtime> runtime;

  Snapshot() {
    auto loaded = config::load_config_string(config_yaml, "test.yaml");
    EXPECT_TRUE(loaded.ok());
    proxy::CompileServices services{names, series, nullptr, nullptr};
    runtime = proxy::compile_runtime(std::make_shared<config::Config>(*loaded.config), 7, services);
  }
};

TEST(RoutesView, NamesEachRoutesMatchFiltersAndAction) {
  Snapshot snapshot;
  auto view = routes_json(*snapshot.runtime).as_object();
  EXPECT_EQ(view.at("version"), 7);
  const auto& routes = view.at("routes").as_array();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].at("match"), json::parse(R"({"prefix": "/users", "methods": ["GET"]})"));
  EXPECT_EQ(routes[0].at("filters"), json::parse(R"(["strip_prefix"])"));
  EXPECT_EQ(routes[0].at("action"), "proxy");
  EXPECT_EQ(routes[0].at("upstream"), "users");
  EXPECT_EQ(routes[1].at("action"), "respond");
  EXPECT_FALSE(routes[1].as_object().contains("upstream"));
}

TEST(UpstreamsView, CountsTheOpenConnectionsOfEachTargetsPool) {
  Snapshot snapshot;
  const auto& target = snapshot.runtime->upstreams[0].targets[0];
  auto view = upstreams_json(*snapshot.runtime, {{target.pool_key, 3}});
  const auto& users = view.at("upstreams").as_array().at(0);
  EXPECT_EQ(users.at("name"), "users");
  EXPECT_EQ(users.at("circuit_state"), "closed");
  const auto& shown = users.at("targets").as_array().at(0);
  EXPECT_EQ(shown.at("target"), "127.0.0.1:9001");
  EXPECT_EQ(shown.at("active_connections"), 3);
  auto idle = upstreams_json(*snapshot.runtime, {});
  EXPECT_EQ(idle.at("upstreams").at(0).at("targets").at(0).at("active_connections"), 0);
}

TEST(UpstreamGauges, ShowAClosedBreakerAndAHealthyTarget) {
  Snapshot snapshot;
  std::string out;
  render_upstream_gauges(out, *snapshot.runtime);
  EXPECT_NE(out.find("portico_circuit_state{upstream=\"users\"} 0\n"), std::string::npos);
  EXPECT_NE(out.find("portico_upstream_healthy{upstream=\"users\",target=\"127.0.0.1:9001\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace portico::admin
