// Envoy's retry budget, per upstream per process: a retry may start only while the retries in
// flight stay under `budget` of the requests in flight, or under a floor of 3 (Envoy's
// min_retry_concurrency) so a quiet upstream can still retry at all.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace portico::upstream {

class RetryBudget {
 public:
  static constexpr std::uint32_t min_concurrency = 3;

  explicit RetryBudget(double budget) : budget_(budget) {}

  // Held by each request to the upstream, from its first attempt to its last.
  class ActiveRequest {
   public:
    explicit ActiveRequest(RetryBudget& budget) : count_(&budget.active_requests_) {
      count_->fetch_add(1, std::memory_order_relaxed);
    }
    ActiveRequest(ActiveRequest&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
    ActiveRequest& operator=(ActiveRequest&&) = delete;
    ~ActiveRequest() {
      if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
    }

   private:
    std::atomic<std::uint32_t>* count_;
  };

  // Held by a retry from the decision to retry (its backoff included) to its end.
  class ActiveRetry {
   public:
    ActiveRetry(ActiveRetry&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
    ActiveRetry& operator=(ActiveRetry&&) = delete;
    ~ActiveRetry() {
      if (count_) count_->fetch_sub(1, std::memory_order_relaxed);
    }

   private:
    friend class RetryBudget;
    explicit ActiveRetry(std::atomic<std::uint32_t>* count) : count_(count) {}
    std::atomic<std::uint32_t>* count_;
  };

  ActiveRequest start_request() { return ActiveRequest(*this); }
  // Empty when the budget is spent: answer with the failed attempt's outcome instead.
  std::optional<ActiveRetry> try_start_retry();

  std::uint32_t active_requests() const { return active_requests_.load(std::memory_order_relaxed); }
  std::uint32_t active_retries() const { return active_retries_.load(std::memory_order_relaxed); }

 private:
  double budget_;
  // Relaxed: two independent counters; a decision on a value a moment old is still a budget.
  std::atomic<std::uint32_t> active_requests_{0};
  std::atomic<std::uint32_t> active_retries_{0};
};

}  // namespace portico::upstream
