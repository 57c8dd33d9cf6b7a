#include "filters/rate_limit/rate_limiter.h"

#include "core/log.h"
#include "filters/rate_limit/gcra_script.h"
#include "observability/series.h"

namespace portico::filters::rate_limit {
namespace {

std::int64_t window_seconds(const core::Rate& rate) {
  auto per = std::chrono::duration_cast<std::chrono::seconds>(rate.per).count();
  return per < 1 ? 1 : per;
}

CompiledPolicy compile(const RateLimitPolicy& policy, std::uint64_t expected_instances) {
  CompiledPolicy out;
  out.name = policy.name;
  out.key = parse_limit_key(policy.key);
  out.limit = GcraLimit::of(policy.rate, policy.burst);
  // `local` holds this process to its share of the rate and of the burst, at least one.
  core::Rate share = policy.rate;
  share.count = std::max<std::uint64_t>(1, policy.rate.count / expected_instances);
  out.local_limit =
      GcraLimit::of(share, std::max<std::uint64_t>(1, policy.burst / expected_instances));
  out.identity = policy.name + '\x1f' + policy.key + '\x1f' + std::to_string(policy.rate.count) +
                 '/' + std::to_string(policy.rate.per.count()) + '\x1f' +
                 std::to_string(policy.burst);
  out.refused_tag = "rate_limited:" + policy.name;
  out.policy_header = '"' + policy.name + "\";q=" + std::to_string(policy.burst) +
                      ";w=" + std::to_string(window_seconds(policy.rate));
  return out;
}

StoreError store_error_of(std::string_view text) {
  if (text == "deny") return StoreError::Deny;
  if (text == "local") return StoreError::Local;
  return StoreError::Allow;
}

}  // namespace

RateLimiter::RateLimiter(const RateLimitsConfig& config, const RateLimiter* previous,
                         observability::SeriesRegistry& series)
    : gcra_script_(std::string(kGcraScript)), refund_script_(std::string(kGcraRefundScript)) {
  for (const auto& policy : config.policies)
    policies_.emplace(policy.name, compile(policy, config.expected_instances));
  on_store_error_ = store_error_of(config.on_store_error);
  if (config.store == "redis") redis_ = config.redis;

  auto reuse = [&](const std::shared_ptr<MemoryStore>& old) {
    return old && old->max_keys() == config.max_keys
               ? old
               : std::make_shared<MemoryStore>(config.max_keys);
  };
  if (!redis_) memory_ = reuse(previous ? previous->memory_ : nullptr);
  if (redis_ && on_store_error_ == StoreError::Local)
    local_ = reuse(previous ? previous->local_ : nullptr);
  store_down_ = previous && previous->redis_ == redis_ ? previous->store_down_
                                                       : std::make_shared<std::atomic<bool>>(false);
  if (redis_)
    store_error_series_ =
        series.id_of(observability::Family::RateLimitStoreErrors, {{"store", "redis"}});
}

const CompiledPolicy* RateLimiter::policy(std::string_view name) const {
  auto it = policies_.find(name);
  return it == policies_.end() ? nullptr : &it->second;
}

bool RateLimiter::note_store_state(bool up, std::string_view why) {
  // Read first: every Redis decision reports the store up, and a write per request would bounce
  // the flag's cache line between workers.
  if (store_down_->load(std::memory_order_relaxed) == !up) return false;
  bool was_down = store_down_->exchange(!up);
  if (was_down == !up) return false;
  if (up)
    core::log_info("rate_limits: the redis store answers again; shared limits resume");
  else
    core::log_warn("rate_limits: the redis store does not answer (" + std::string(why) +
                   "); on_store_error: " +
                   (on_store_error_ == StoreError::Deny    ? "deny"
                    : on_store_error_ == StoreError::Local ? "local"
                                                           : "allow") +
                   " until it does");
  return true;
}

std::shared_ptr<RateLimiter> build_rate_limiter(const std::optional<RateLimitsConfig>& config,
                                                const std::shared_ptr<RateLimiter>& previous,
                                                observability::SeriesRegistry& series) {
  if (!config) return nullptr;
  return std::make_shared<RateLimiter>(*config, previous.get(), series);
}

}  // namespace portico::filters::rate_limit
