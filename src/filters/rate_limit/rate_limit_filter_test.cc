// The rate-limit filter through a request context, as a route's chain runs it: keys, every
// header of an admitted and a refused answer, several policies, reload carrying buckets over.
#include "filters/rate_limit/rate_limit_filter.h"

#include <gtest/gtest.h>

#include "observability/series.h"

namespace portico::filters::rate_limit {
namespace {

struct TestRequest {
  core::RequestHead head;
  observability::MetricsShard metrics;
  proxy::RequestContext ctx;

  explicit TestRequest(std::vector<core::HeaderField> fields = {},
                       std::string_view ip = "10.0.0.1") {
    head.method = "GET";
    head.path = "/orders";
    head.fields = std::move(fields);
    ctx.head = &head;
    ctx.route_name = "orders";
    ctx.client_ip = ip;
    ctx.request_id = "req-1";
    ctx.metrics = &metrics;
  }
  std::string_view answer_header(const proxy::Filter& filter, std::string_view name, int status) {
    head_.clear();
    head_.status = status;
    filter.on_response(ctx, head_);
    return head_.find(name);
  }
  core::ResponseHead head_;
};

RateLimitPolicy policy(std::string name, std::string key, std::uint64_t count,
                       std::uint64_t burst) {
  RateLimitPolicy out;
  out.name = std::move(name);
  out.key = std::move(key);
  out.rate = {count, std::chrono::seconds(1)};
  out.burst = burst;
  return out;
}

struct Fixture : ::testing::Test {
  observability::SeriesRegistry series;
  RateLimitsConfig config;
  std::shared_ptr<RateLimiter> limiter;

  RateLimitFilter filter_for(std::vector<std::string> names) {
    if (!limiter) limiter = std::make_shared<RateLimiter>(config, nullptr, series);
    std::vector<const CompiledPolicy*> policies;
    for (const auto& n : names) policies.push_back(limiter->policy(n));
    return RateLimitFilter("orders", policies, limiter, series);
  }
  std::uint64_t refused(const TestRequest& r, std::string_view name) {
    auto id =
        series.id_of(observability::Family::RateLimited, {{"route", "orders"}, {"policy", name}});
    const auto& counters = r.metrics.counters();
    return id < counters.size() ? counters[id] : 0;
  }
};

TEST_F(Fixture, AdmitsTheBurstWithExactHeadersThenRefuses) {
  config.policies = {policy("per-ip", "client_ip", 1, 2)};
  auto filter = filter_for({"per-ip"});
  TestRequest first;
  ASSERT_EQ(filter.on_request(first.ctx), proxy::Next::Continue);
  EXPECT_EQ(first.answer_header(filter, "RateLimit-Policy", 200), "\"per-ip\";q=2;w=1");
  EXPECT_EQ(first.answer_header(filter, "RateLimit", 200), "\"per-ip\";r=1;t=1");
  EXPECT_EQ(first.answer_header(filter, "X-RateLimit-Limit", 200), "2");
  EXPECT_EQ(first.answer_header(filter, "X-RateLimit-Remaining", 200), "1");
  EXPECT_EQ(first.answer_header(filter, "X-RateLimit-Reset", 200), "1");
  TestRequest second;
  ASSERT_EQ(filter.on_request(second.ctx), proxy::Next::Continue);
  EXPECT_EQ(second.answer_header(filter, "X-RateLimit-Remaining", 200), "0");
  EXPECT_EQ(second.answer_header(filter, "X-RateLimit-Reset", 200), "2");

  TestRequest third;
  ASSERT_EQ(filter.on_request(third.ctx), proxy::Next::Respond);
  EXPECT_EQ(third.ctx.reply.status, 429);
  EXPECT_EQ(third.ctx.reply.error_tag, "rate_limited:per-ip");
  EXPECT_NE(third.ctx.reply.body.find("\"retry_after\":1}"), std::string::npos);
  EXPECT_EQ(third.answer_header(filter, "Retry-After", 429), "1");
  EXPECT_EQ(third.answer_header(filter, "RateLimit", 429), "\"per-ip\";r=0;t=1");
  EXPECT_EQ(refused(third, "per-ip"), 1u);

  TestRequest other({}, "10.0.0.2");
  EXPECT_EQ(filter.on_request(other.ctx), proxy::Next::Continue) << "each client its own bucket";
}

TEST_F(Fixture, MissingValuesShareTheDashKeyAndHeadersKeySeparately) {
  config.policies = {policy("per-key", "header:X-API-Key", 1, 1)};
  auto filter = filter_for({"per-key"});
  using Fields = std::vector<core::HeaderField>;
  TestRequest a(Fields{{"X-API-Key", "a"}}), b(Fields{{"X-API-Key", "b"}}), none1, none2;
  EXPECT_EQ(filter.on_request(a.ctx), proxy::Next::Continue);
  EXPECT_EQ(filter.on_request(b.ctx), proxy::Next::Continue);
  EXPECT_EQ(filter.on_request(none1.ctx), proxy::Next::Continue);
  EXPECT_EQ(filter.on_request(none2.ctx), proxy::Next::Respond);
}

TEST_F(Fixture, ShowsThePolicyClosestToRefusingAndARefusalChargesNoOther) {
  config.policies = {policy("wide", "global", 100, 100), policy("narrow", "client_ip", 1, 3)};
  config.policies[0].rate.per = std::chrono::hours(1);  // no refill while the test runs
  auto filter = filter_for({"wide", "narrow"});
  for (int i = 0; i < 3; ++i) {
    TestRequest r;
    ASSERT_EQ(filter.on_request(r.ctx), proxy::Next::Continue);
    EXPECT_EQ(r.answer_header(filter, "RateLimit-Policy", 200), "\"narrow\";q=3;w=1");
  }
  TestRequest refused_one;
  ASSERT_EQ(filter.on_request(refused_one.ctx), proxy::Next::Respond);
  TestRequest elsewhere({}, "10.9.9.9");
  ASSERT_EQ(filter.on_request(elsewhere.ctx), proxy::Next::Continue);
  // wide: 3 admitted from 10.0.0.1 and this one; the refusal took nothing.
  EXPECT_EQ(elsewhere.answer_header(filter, "RateLimit-Policy", 200), "\"narrow\";q=3;w=1");
  auto wide_only = filter_for({"wide"});
  TestRequest probe;
  ASSERT_EQ(wide_only.on_request(probe.ctx), proxy::Next::Continue);
  EXPECT_EQ(probe.answer_header(wide_only, "X-RateLimit-Remaining", 200), "95");
}

TEST_F(Fixture, AReloadKeepsUnchangedPoliciesAndResetsChangedOnes) {
  config.policies = {policy("kept", "client_ip", 1, 1), policy("changed", "client_ip", 1, 1)};
  limiter = std::make_shared<RateLimiter>(config, nullptr, series);
  {
    auto both = filter_for({"kept", "changed"});
    TestRequest r;
    ASSERT_EQ(both.on_request(r.ctx), proxy::Next::Continue);
  }
  config.policies[1].burst = 2;
  auto next = std::make_shared<RateLimiter>(config, limiter.get(), series);
  limiter = next;
  auto kept = filter_for({"kept"});
  auto changed = filter_for({"changed"});
  TestRequest a, b;
  EXPECT_EQ(kept.on_request(a.ctx), proxy::Next::Respond) << "its bucket survived the reload";
  EXPECT_EQ(changed.on_request(b.ctx), proxy::Next::Continue);
  EXPECT_EQ(b.answer_header(changed, "X-RateLimit-Remaining", 200), "1");
}

}  // namespace
}  // namespace portico::filters::rate_limit
