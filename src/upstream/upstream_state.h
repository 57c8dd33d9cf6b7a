// Process-wide state of one upstream, shared by every worker through a std::shared_ptr: per
// target health, ejection and load, the circuit breaker, outlier detection and retry budget.
// Built once per upstream per config; a reload builds a new one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/config.h"
#include "upstream/circuit_breaker.h"
#include "upstream/clock.h"
#include "upstream/outlier_detector.h"
#include "upstream/retry_budget.h"

namespace portico::upstream {

// One target as every worker sees it. All loads and stores are relaxed: each field is a
// self-contained fact (no other memory is published through it), and a pick that reads a value
// a moment old only sends one request by the old picture.
class alignas(64) TargetState {
 public:
  // Written by the active health checker, from its own thread.
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void set_healthy(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }

  // Set by outlier detection; an ejection ends by itself when its time passes.
  bool ejected(Clock::time_point now) const {
    return to_ticks(now) < ejected_until_.load(std::memory_order_relaxed);
  }
  Clock::time_point ejected_until() const {
    return Clock::time_point(
        std::chrono::nanoseconds(ejected_until_.load(std::memory_order_relaxed)));
  }

  // Requests on this target now, from all workers: the caller brackets each attempt.
  std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  void begin_request() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void end_request() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  std::uint32_t weight() const { return weight_; }
  std::uint32_t consecutive_failures() const {
    return consecutive_failures_.load(std::memory_order_relaxed);
  }

 private:
  friend class OutlierDetector;
  friend class UpstreamState;

  std::atomic<bool> healthy_{true};
  std::atomic<std::int64_t> ejected_until_{0};  // ns since the clock's epoch
  std::atomic<std::uint32_t> consecutive_failures_{0};
  std::uint32_t weight_ = 1;
  // Written on every request by every core: on a cache line of its own, so picks that read
  // the fields above do not miss on it.
  alignas(64) std::atomic<std::uint32_t> in_flight_{0};
};

class UpstreamState {
 public:
  explicit UpstreamState(const config::UpstreamConfig& config);

  std::size_t size() const { return size_; }
  TargetState& target(std::size_t i) { return targets_[i]; }
  const TargetState& target(std::size_t i) const { return targets_[i]; }

  // Healthy and not ejected.
  bool available(std::size_t i, Clock::time_point now) const {
    return targets_[i].healthy() && !targets_[i].ejected(now);
  }
  // Available, or every target counts as usable because none is (panic mode).
  bool usable(std::size_t i, Clock::time_point now) const {
    return available(i, now) || panic(now);
  }
  // No target is available: traffic goes to all of them, so a broken health check does not
  // black-hole the service. O(n); balancers ask only after their candidate was unavailable.
  bool panic(Clock::time_point now) const;

  // Feeds outlier detection with the outcome of one attempt on target `i`.
  void record(std::size_t i, bool success, Clock::time_point now);

  // Null when the upstream's config has no such section.
  CircuitBreaker* breaker() { return breaker_.get(); }
  OutlierDetector* outlier_detector() { return outliers_.get(); }
  RetryBudget* retry_budget() { return retry_budget_.get(); }

 private:
  std::size_t size_;
  std::unique_ptr<TargetState[]> targets_;  // atomics do not move: a fixed array
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<OutlierDetector> outliers_;
  std::unique_ptr<RetryBudget> retry_budget_;
};

}  // namespace portico::upstream
