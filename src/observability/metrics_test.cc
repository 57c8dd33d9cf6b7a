#include "observability/metrics.h"
#include "observability/series.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace portico::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string render(const MetricsShard& shard, const std::vector<std::string>& names,
                   const ProcessCounters& process) {
  std::string out;
  render_prometheus(out, shard, names, process);
  return out;
}

// The value of the sample whose name and labels are exactly `series`; NaN when absent.
double sample_value(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::stod(text.substr(at + series.size() + 2));
}

std::string render(const MetricsShard& shard, const std::vector<std::string>& names) {
  ProcessCounters process;
  return render(shard, names, process);
}

TEST(Method, NamesRoundTripAndUnknownMethodsAreOther) {
  for (std::size_t i = 0; i < method_count; ++i) {
    auto m = static_cast<Method>(i);
    if (m == Method::Other) continue;
    EXPECT_EQ(method_from(method_name(m)), m);
  }
  EXPECT_EQ(method_from("PROPFIND"), Method::Other);
  EXPECT_EQ(method_from("get"), Method::Other);
  EXPECT_EQ(method_name(Method::Delete), "DELETE");
}

TEST(NameRegistry, GivesEachNameOneStableId) {
  NameRegistry registry;
  auto users = registry.id_of("users");
  auto orders = registry.id_of("orders");
  EXPECT_NE(users, orders);
  EXPECT_EQ(registry.id_of("users"), users);
  auto names = registry.names();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[users], "users");
  EXPECT_EQ(names[orders], "orders");
}

TEST(Histogram, CountsAnObservationInTheFirstBucketItFits) {
  Histogram h;
  h.observe(0.001);  // on a bound: le is inclusive
  h.observe(0.003);
  h.observe(60);  // above every bound: only in +Inf
  EXPECT_EQ(h.buckets[1], 1u);
  EXPECT_EQ(h.buckets[3], 1u);
  EXPECT_EQ(h.count, 3u);
  EXPECT_DOUBLE_EQ(h.sum, 60.004);
}

TEST(RenderPrometheus, WritesRequestCounterLinesPerRouteMethodAndStatus) {
  MetricsShard shard;
  shard.record_request(0, Method::Get, 200, 0.002);
  shard.record_request(0, Method::Get, 200, 0.002);
  shard.record_request(0, Method::Post, 201, 0.002);
  shard.record_request(1, Method::Get, 404, 0.0001);
  auto text = render(shard, {"users", "orders"});

  EXPECT_THAT(text, HasSubstr("# HELP portico_requests_total "));
  EXPECT_THAT(text, HasSubstr("# TYPE portico_requests_total counter\n"));
  EXPECT_THAT(
      text, HasSubstr("portico_requests_total{route=\"users\",method=\"GET\",status=\"200\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("portico_requests_total{route=\"users\",method=\"POST\",status=\"201\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("portico_requests_total{route=\"orders\",method=\"GET\",status=\"404\"} 1\n"));
}

TEST(RenderPrometheus, WritesCumulativeHistogramBucketsWithInfSumAndCount) {
  MetricsShard shard;
  shard.record_request(0, Method::Get, 200, 0.0004);
  shard.record_request(0, Method::Get, 200, 0.003);
  shard.record_request(0, Method::Get, 200, 0.2);
  shard.record_request(0, Method::Get, 200, 30);
  auto text = render(shard, {"users"});

  EXPECT_THAT(text, HasSubstr("# TYPE portico_request_duration_seconds histogram\n"));
  const std::string prefix = "portico_request_duration_seconds_bucket{route=\"users\",le=";
  EXPECT_THAT(text, HasSubstr(prefix + "\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"0.0025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"0.1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"0.25\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"10\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(prefix + "\"+Inf\"} 4\n"));
  EXPECT_NEAR(sample_value(text, "portico_request_duration_seconds_sum{route=\"users\"}"), 30.2034,
              1e-9);
  EXPECT_THAT(text, HasSubstr("portico_request_duration_seconds_count{route=\"users\"} 4\n"));
  // Buckets are listed in increasing order of le.
  EXPECT_LT(text.find(prefix + "\"0.0005\""), text.find(prefix + "\"0.001\""));
  EXPECT_LT(text.find(prefix + "\"10\""), text.find(prefix + "\"+Inf\""));
}

TEST(RenderPrometheus, EscapesBackslashQuoteAndNewlineInLabelValues) {
  MetricsShard shard;
  shard.record_request(0, Method::Get, 200, 0.01);
  auto text = render(shard, {"a\"b\\c\nd"});
  EXPECT_THAT(text, HasSubstr("route=\"a\\\"b\\\\c\\nd\""));
  EXPECT_THAT(text, Not(HasSubstr("c\nd")));
}

TEST(RenderPrometheus, OmitsRoutesWithoutRequests) {
  MetricsShard shard;
  shard.record_request(2, Method::Get, 200, 0.01);
  auto text = render(shard, {"idle", "also-idle", "busy"});
  EXPECT_THAT(text, HasSubstr("route=\"busy\""));
  EXPECT_THAT(text, Not(HasSubstr("route=\"idle\"")));
}

TEST(RenderPrometheus, AlwaysWritesActiveConnectionsAndBothReloadResults) {
  MetricsShard shard;
  shard.connection_opened();
  shard.connection_opened();
  shard.connection_closed();
  ProcessCounters process;
  auto text = render(shard, {}, process);
  EXPECT_THAT(text,
              HasSubstr("# TYPE portico_active_connections gauge\nportico_active_connections 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE portico_config_reloads_total counter\n"));
  EXPECT_THAT(text, HasSubstr("portico_config_reloads_total{result=\"success\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("portico_config_reloads_total{result=\"failure\"} 0\n"));

  process.reloads_success += 3;
  process.reloads_failure += 1;
  text = render(shard, {}, process);
  EXPECT_THAT(text, HasSubstr("portico_config_reloads_total{result=\"success\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("portico_config_reloads_total{result=\"failure\"} 1\n"));
}

TEST(RenderPrometheus, EveryLineIsACommentOrASampleWithAValue) {
  MetricsShard shard;
  shard.record_request(0, Method::Get, 200, 0.01);
  auto text = render(shard, {"users"});
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    auto line = std::string_view{text}.substr(start, end - start);
    EXPECT_FALSE(line.empty());
    if (!line.starts_with("# ")) {
      auto space = line.rfind(' ');
      ASSERT_NE(space, std::string_view::npos) << line;
      EXPECT_TRUE(line.starts_with("portico_")) << line;
    }
    start = end + 1;
  }
}

TEST(MetricsShard, AddSumsCountersHistogramsAndConnectionsAcrossShards) {
  MetricsShard a, b, total;
  a.record_request(0, Method::Get, 200, 0.002);
  a.connection_opened();
  b.record_request(0, Method::Get, 200, 0.02);
  b.record_request(0, Method::Get, 500, 0.02);
  b.record_request(3, Method::Put, 204, 0.02);
  b.connection_opened();
  b.connection_opened();
  total.add(a);
  total.add(b);

  ASSERT_EQ(total.routes().size(), 4u);
  EXPECT_EQ(total.active_connections(), 3);
  EXPECT_EQ(total.routes()[0].duration.count, 3u);
  EXPECT_EQ(total.routes()[3].duration.count, 1u);
  auto text = render(total, {"r0", "r1", "r2", "r3"});
  EXPECT_THAT(text,
              HasSubstr("portico_requests_total{route=\"r0\",method=\"GET\",status=\"200\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("portico_requests_total{route=\"r0\",method=\"GET\",status=\"500\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("portico_requests_total{route=\"r3\",method=\"PUT\",status=\"204\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("portico_request_duration_seconds_count{route=\"r0\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("portico_active_connections 3\n"));
}

}  // namespace
}  // namespace portico::observability

namespace portico::observability {
namespace {

TEST(SeriesRegistry, InternsEachLabelSetOnceAndEscapesValues) {
  SeriesRegistry registry;
  auto a = registry.id_of(Family::AuthFailures,
                          {{"route", "r\"1"}, {"provider", "p"}, {"reason", "expired"}});
  auto b = registry.id_of(Family::AuthFailures,
                          {{"route", "r\"1"}, {"provider", "p"}, {"reason", "expired"}});
  auto c = registry.id_of(Family::UpstreamRequests,
                          {{"route", "r\"1"}, {"provider", "p"}, {"reason", "expired"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(registry.series()[a].labels, R"(route="r\"1",provider="p",reason="expired")");
}

TEST(SeriesRegistry, RendersCountersFromZeroAndHistogramsOnceObserved) {
  SeriesRegistry registry;
  auto failures = registry.id_of(Family::AuthFailures,
                                 {{"route", "r"}, {"provider", "p"}, {"reason", "missing"}});
  auto untouched = registry.id_of(Family::AuthFailures,
                                  {{"route", "r"}, {"provider", "p"}, {"reason", "expired"}});
  auto duration = registry.id_of(Family::UpstreamDuration, {{"upstream", "users"}});
  MetricsShard one, two, total;
  one.count(failures);
  two.count(failures, 2);
  two.observe(duration, 0.003);
  total.add(one);
  total.add(two);
  std::string out;
  render_series(out, total, registry.series());
  EXPECT_THAT(out, HasSubstr("portico_auth_failures_total{route=\"r\",provider=\"p\",reason="
                             "\"missing\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("portico_auth_failures_total{route=\"r\",provider=\"p\",reason="
                             "\"expired\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("portico_upstream_duration_seconds_bucket{upstream=\"users\",le="
                             "\"0.005\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("portico_upstream_duration_seconds_count{upstream=\"users\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE portico_upstream_requests_total counter\n"));
  (void)untouched;
}

}  // namespace
}  // namespace portico::observability
