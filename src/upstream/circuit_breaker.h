// One per upstream per process, shared by every worker; lock-free. closed -> open after
// `consecutive_failures` in a row or a `failure_rate` over `window`; open -> half-open after
// `open_for`; half-open lets `half_open_requests` probes through: all succeed -> closed, any
// fails -> open again. Separately, `max_requests` caps the requests in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "config/config.h"
#include "upstream/clock.h"

namespace portico::upstream {

class CircuitBreaker {
 public:
  // Values as the metric `portico_circuit_state` reports them.
  enum class State : std::uint8_t { Closed = 0, HalfOpen = 1, Open = 2 };

  struct Admission {
    bool allowed = false;
    bool probe = false;                  // a half-open probe: its outcome decides the state
    std::chrono::seconds retry_after{};  // when refused: until the breaker half-opens, >= 1 s
    std::uint32_t episode = 0;           // the half-open episode a probe belongs to
  };

  explicit CircuitBreaker(const config::CircuitBreakerConfig& config);

  // May a request go now? Every allowed request must be recorded exactly once (a cancelled
  // probe as a failure), or a half-open breaker waits for it forever.
  Admission admit(Clock::time_point now);
  // The outcome of an allowed request. A failure is a connect failure, reset, timeout or 5xx.
  void record(bool success, const Admission& admission, Clock::time_point now);

  // The in-flight cap (`max_requests`): false when at the cap, and then end() is not called.
  bool try_begin();
  void end();
  std::uint64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // As stored: an open breaker past `open_for` reads Open until a request half-opens it.
  State state() const;

 private:
  static constexpr int bucket_count = 10;

  Admission take_probe(std::uint32_t episode, bool& stale);
  void count_in_window(bool success, std::int64_t now);
  bool failure_rate_reached(std::int64_t now) const;
  void open(std::uint64_t expected, Clock::time_point now);
  void close(std::uint64_t expected);

  // Configuration.
  std::uint32_t consecutive_limit_;
  std::optional<double> failure_rate_;
  std::uint32_t min_requests_;
  Clock::duration open_for_;
  std::uint32_t half_open_requests_;
  std::int64_t bucket_width_;   // ns
  std::uint64_t max_requests_;  // 0: no cap

  // State word: (payload << 2) | State. The payload is the open-until instant (ns) when Open and
  // the episode number when HalfOpen, so a state and its deadline change in one CAS.
  std::atomic<std::uint64_t> control_{0};
  // Half-open probes: episode (24 bits) | started (20) | succeeded (20). The episode makes
  // the counters reset themselves when a new half-open period begins, and lets late outcomes of
  // an earlier period be ignored.
  std::atomic<std::uint64_t> probes_{0};
  std::atomic<std::uint32_t> consecutive_failures_{0};
  // The sliding window: bucket_count time buckets, each epoch tag (24) | total (20) | failures
  // (20) in one word, reset lazily by the first record of a new epoch.
  std::atomic<std::uint64_t> buckets_[bucket_count] = {};
  std::atomic<std::uint64_t> in_flight_{0};
};

}  // namespace portico::upstream
