#include "upstream/retry_budget.h"

namespace portico::upstream {

std::optional<RetryBudget::ActiveRetry> RetryBudget::try_start_retry() {
  double limit = std::max<double>(min_concurrency, budget_ * active_requests());
  // A CAS rather than add-then-undo, so concurrent retries cannot overshoot the limit together.
  std::uint32_t current = active_retries_.load(std::memory_order_relaxed);
  do {
    if (current >= limit) return std::nullopt;
  } while (!active_retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return ActiveRetry(&active_retries_);
}

}  // namespace portico::upstream
