// An upstream's `retries:`, compiled once: how many extra attempts, on which failures and
// statuses, for which methods, and the backoff before each retry.
#pragma once

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "upstream/prng.h"

namespace portico::upstream {

enum class AttemptFailure : std::uint8_t { ConnectFailure, Reset, Timeout };

class RetryPolicy {
 public:
  // Throws std::invalid_argument on a condition the config parser should have refused.
  explicit RetryPolicy(const config::RetryConfig& config);

  int attempts() const { return attempts_; }  // extra attempts after the first
  bool retries(AttemptFailure failure) const { return failures_[static_cast<int>(failure)]; }
  bool retries_status(int status) const {
    return status >= first_status && status <= last_status && statuses_[status - first_status];
  }
  // GET HEAD OPTIONS PUT DELETE TRACE, or the config's `methods:` list instead.
  bool retries_method(std::string_view method) const;

  // The wait before retry `retry` (1-based): full jitter, uniform in
  // [0, min(backoff * 2^(retry-1), 10 * backoff)) — Envoy's ceiling of ten times the base.
  std::chrono::microseconds backoff(int retry, Prng& prng) const;

 private:
  static constexpr int first_status = 400;  // the parser accepts codes 400..599
  static constexpr int last_status = 599;

  int attempts_;
  std::bitset<3> failures_;
  std::bitset<last_status - first_status + 1> statuses_;
  std::vector<std::string> methods_;
  std::chrono::microseconds base_;
};

}  // namespace portico::upstream
