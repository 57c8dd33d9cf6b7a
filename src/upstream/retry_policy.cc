#include "upstream/retry_policy.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace portico::upstream {

RetryPolicy::RetryPolicy(const config::RetryConfig& config)
    : attempts_(std::max(config.attempts, 0)),
      methods_(config.methods),
      base_(std::chrono::duration_cast<std::chrono::microseconds>(config.backoff)) {
  if (methods_.empty()) methods_ = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
  for (const std::string& on : config.on) {
    int status = 0;
    auto [end, ec] = std::from_chars(on.data(), on.data() + on.size(), status);
    if (on == "connect_failure") {
      failures_.set(static_cast<int>(AttemptFailure::ConnectFailure));
    } else if (on == "reset") {
      failures_.set(static_cast<int>(AttemptFailure::Reset));
    } else if (on == "timeout") {
      failures_.set(static_cast<int>(AttemptFailure::Timeout));
    } else if (ec == std::errc() && end == on.data() + on.size() && status >= first_status &&
               status <= last_status) {
      statuses_.set(status - first_status);
    } else {
      throw std::invalid_argument("retries: unknown condition \"" + on + "\"");
    }
  }
}

bool RetryPolicy::retries_method(std::string_view method) const {
  // A handful of short strings: a scan beats a hash set and allocates nothing.
  return std::find(methods_.begin(), methods_.end(), method) != methods_.end();
}

std::chrono::microseconds RetryPolicy::backoff(int retry, Prng& prng) const {
  const std::int64_t cap = 10 * base_.count();
  std::int64_t ceiling = base_.count();
  for (int k = 1; k < retry && ceiling < cap; ++k) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  return std::chrono::microseconds(static_cast<std::int64_t>(prng.unit() * ceiling));
}

}  // namespace portico::upstream
