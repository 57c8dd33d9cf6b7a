// GCRA, the generic cell rate algorithm: a token bucket kept as one number per key, the
// "theoretical arrival time" (TAT) at which the bucket would be full again. A request at `now`
// is admitted when pushing the TAT one emission interval later keeps it within `burst`
// intervals of now. The memory store runs this in C++; the Redis store runs the same rule in
// its Lua script (redis_store.cc), so the two answer alike.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/units.h"

namespace portico::filters::rate_limit {

// One policy's shape, in nanoseconds.
struct GcraLimit {
  std::int64_t interval = 0;  // between admitted requests at the steady rate: per / count
  std::int64_t burst = 0;     // admitted at once from a full bucket

  static GcraLimit of(const core::Rate& rate, std::uint64_t burst) {
    auto per = std::chrono::duration_cast<std::chrono::nanoseconds>(rate.per).count();
    return {std::max<std::int64_t>(1, per / static_cast<std::int64_t>(rate.count)),
            static_cast<std::int64_t>(burst)};
  }
  std::int64_t tolerance() const { return interval * burst; }
};

struct GcraDecision {
  bool allowed = false;
  std::int64_t tat = 0;          // the key's TAT after this request (unchanged when refused)
  std::int64_t remaining = 0;    // requests still admitted at once after this one
  std::int64_t retry_after = 0;  // refused: until this request would pass
  std::int64_t reset = 0;        // until the bucket is full again
};

inline GcraDecision gcra_decide(std::int64_t tat, std::int64_t now, const GcraLimit& limit) {
  GcraDecision d;
  std::int64_t base = std::max(tat, now);
  std::int64_t next = base + limit.interval;
  if (next - now <= limit.tolerance()) {
    d.allowed = true;
    d.tat = next;
    d.remaining = (limit.tolerance() - (next - now)) / limit.interval;
    d.reset = next - now;
  } else {
    d.tat = tat;
    d.retry_after = next - now - limit.tolerance();
    d.reset = base - now;
  }
  return d;
}

// Whole seconds, rounded up: what Retry-After and X-RateLimit-Reset say.
inline std::int64_t ceil_seconds(std::int64_t nanoseconds) {
  return nanoseconds <= 0 ? 0 : (nanoseconds + 999'999'999) / 1'000'000'000;
}

}  // namespace portico::filters::rate_limit
