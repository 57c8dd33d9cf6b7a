// The process's rate limiting: the policies of `rate_limits:` compiled, and the stores their
// buckets live in. One per config snapshot, shared by every worker; a reload builds a new one
// that takes over the previous one's memory store (and with it the buckets of every policy
// whose definition is unchanged: a changed policy's buckets are keyed afresh).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "filters/rate_limit/gcra.h"
#include "filters/rate_limit/limit_key.h"
#include "filters/rate_limit/memory_store.h"
#include "filters/rate_limit/rate_limit_config.h"
#include "stores/redis/redis_script.h"

namespace portico::observability {
class SeriesRegistry;
}

namespace portico::filters::rate_limit {

struct CompiledPolicy {
  std::string name;
  std::vector<KeyPart> key;
  GcraLimit limit;
  GcraLimit local_limit;      // on_store_error: local: this process's share of the rate
  std::string identity;       // name and definition: the prefix of every bucket key
  std::string refused_tag;    // the access log's `error`: rate_limited:NAME
  std::string policy_header;  // RateLimit-Policy: "NAME";q=BURST;w=SECONDS
};

enum class StoreError { Allow, Deny, Local };

class RateLimiter {
 public:
  // `previous`: the limiter of the snapshot being replaced; its memory store is kept when the
  // store's shape (max_keys) is unchanged.
  RateLimiter(const RateLimitsConfig& config, const RateLimiter* previous,
              observability::SeriesRegistry& series);

  const CompiledPolicy* policy(std::string_view name) const;
  bool shared_store() const { return redis_.has_value(); }
  const std::optional<config::RedisConfig>& redis() const { return redis_; }
  StoreError on_store_error() const { return on_store_error_; }
  std::uint32_t store_error_series() const { return store_error_series_; }
  const stores::redis::RedisScript& gcra_script() const { return gcra_script_; }
  const stores::redis::RedisScript& refund_script() const { return refund_script_; }

  // The in-process decision (store: memory, or the `local` fallback): see MemoryStore::decide.
  int decide_in_memory(std::span<const BucketCheck> checks, std::span<GcraDecision> out) {
    return memory_->decide(checks, now(), out);
  }
  int decide_locally(std::span<const BucketCheck> checks, std::span<GcraDecision> out) {
    return local_->decide(checks, now(), out);
  }

  // The shared store stopped answering or answered again: logged once per change, not per
  // request. Returns whether this call changed the state.
  bool note_store_state(bool up, std::string_view why = {});

  static std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  std::map<std::string, CompiledPolicy, std::less<>> policies_;
  std::optional<config::RedisConfig> redis_;
  StoreError on_store_error_ = StoreError::Allow;
  std::shared_ptr<MemoryStore> memory_;  // store: memory
  std::shared_ptr<MemoryStore> local_;   // the `local` fallback's buckets
  std::shared_ptr<std::atomic<bool>> store_down_;
  std::uint32_t store_error_series_ = 0;
  stores::redis::RedisScript gcra_script_;
  stores::redis::RedisScript refund_script_;
};

// The process's limiter for `config` (null without a rate_limits section).
std::shared_ptr<RateLimiter> build_rate_limiter(const std::optional<RateLimitsConfig>& config,
                                                const std::shared_ptr<RateLimiter>& previous,
                                                observability::SeriesRegistry& series);

}  // namespace portico::filters::rate_limit
