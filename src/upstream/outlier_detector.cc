#include "upstream/outlier_detector.h"

#include <algorithm>
#include <cmath>

#include "upstream/upstream_state.h"

namespace portico::upstream {
namespace {

// max_ejected of the targets, rounded down (the epsilon keeps 0.29 * 100 at 29), but at least
// one as in Envoy, so that small pools can eject at all; none when max_ejected is 0.
std::size_t slots_for(double share, std::size_t target_count) {
  if (share <= 0) return 0;
  auto slots =
      static_cast<std::size_t>(std::floor(share * static_cast<double>(target_count) + 1e-9));
  return std::max<std::size_t>(slots, 1);
}

}  // namespace

OutlierDetector::OutlierDetector(const config::OutlierDetectionConfig& config,
                                 std::size_t target_count)
    : threshold_(static_cast<std::uint32_t>(std::max(config.consecutive_failures, 1))),
      eject_for_(config.eject_for),
      slot_count_(slots_for(config.max_ejected, target_count)),
      slots_(std::make_unique<std::atomic<std::int64_t>[]>(slot_count_)) {}

bool OutlierDetector::record(TargetState& target, bool success, Clock::time_point now) {
  auto& failures = target.consecutive_failures_;
  if (success) {
    // Read first: a store on every success would bounce the cache line between cores.
    if (failures.load(std::memory_order_relaxed) != 0) {
      failures.store(0, std::memory_order_relaxed);
    }
    return false;
  }
  std::uint32_t count = failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (count < threshold_) return false;
  // One worker per crossing goes on: the one whose CAS starts the count over. Should no slot be
  // free, the target needs `consecutive_failures` more before it is considered again.
  if (!failures.compare_exchange_strong(count, 0, std::memory_order_relaxed)) return false;
  if (target.ejected(now)) return false;
  std::int64_t t = to_ticks(now);
  std::int64_t until = to_ticks(now + eject_for_);
  for (std::size_t i = 0; i < slot_count_; ++i) {
    std::int64_t held_until = slots_[i].load(std::memory_order_relaxed);
    if (held_until > t) continue;
    if (slots_[i].compare_exchange_strong(held_until, until, std::memory_order_relaxed)) {
      // The slot and the ejection end at the same instant, so the slot frees itself.
      target.ejected_until_.store(until, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

}  // namespace portico::upstream
