// A route's `rate_limit: [policies]`: every policy must admit the request (one refusing charges
// none of the others); a refusal answers 429 with Retry-After. Every answer of the route, the
// upstream's included, carries the RateLimit / X-RateLimit-* figures of the policy closest to
// refusing. With store: redis the decision waits for one script call on the worker's client.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "filters/rate_limit/rate_limiter.h"
#include "proxy/filter.h"

namespace portico::stores::redis {
class RedisClient;
}

namespace portico::filters::rate_limit {

class RateLimitFilter final : public proxy::Filter {
 public:
  static constexpr std::size_t kMaxPolicies = 8;

  RateLimitFilter(std::string_view route, std::vector<const CompiledPolicy*> policies,
                  std::shared_ptr<RateLimiter> limiter, observability::SeriesRegistry& series);

  std::string_view name() const override { return "rate_limit"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  boost::asio::awaitable<proxy::Next> on_request_async(proxy::RequestContext& ctx) const override;
  proxy::Next on_response(proxy::RequestContext& ctx, core::ResponseHead& head) const override;

 private:
  struct State;
  // The buckets this request draws from, keyed by its values.
  std::size_t checks_of(const proxy::RequestContext& ctx, State& state, bool local) const;
  proxy::Next conclude(proxy::RequestContext& ctx, State& state, int refused) const;
  proxy::Next store_failed(proxy::RequestContext& ctx, State& state) const;
  // Gives back the charge of the buckets `charged` (Redis Cluster: another node refused).
  boost::asio::awaitable<void> refund(stores::redis::RedisClient& client,
                                      const std::vector<std::string>& keys, const State& state,
                                      const std::vector<std::size_t>& charged) const;

  std::vector<const CompiledPolicy*> policies_;
  std::vector<std::string> limit_values_;  // X-RateLimit-Limit of each policy
  std::shared_ptr<RateLimiter> limiter_;
  std::vector<std::uint32_t> refused_series_;  // portico_rate_limited_total{route,policy}
};

}  // namespace portico::filters::rate_limit
