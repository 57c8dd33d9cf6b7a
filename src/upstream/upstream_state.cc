#include "upstream/upstream_state.h"

#include <stdexcept>

namespace portico::upstream {

UpstreamState::UpstreamState(const config::UpstreamConfig& config)
    : size_(config.targets.size()), targets_(std::make_unique<TargetState[]>(size_)) {
  if (size_ == 0) throw std::invalid_argument("upstream " + config.name + " has no targets");
  for (std::size_t i = 0; i < size_; ++i) targets_[i].weight_ = config.targets[i].weight;
  if (config.circuit_breaker) breaker_ = std::make_unique<CircuitBreaker>(*config.circuit_breaker);
  if (config.outlier_detection) {
    outliers_ = std::make_unique<OutlierDetector>(*config.outlier_detection, size_);
  }
  if (config.retries) retry_budget_ = std::make_unique<RetryBudget>(config.retries->budget);
}

bool UpstreamState::panic(Clock::time_point now) const {
  for (std::size_t i = 0; i < size_; ++i) {
    if (available(i, now)) return false;
  }
  return true;
}

void UpstreamState::record(std::size_t i, bool success, Clock::time_point now) {
  if (outliers_) outliers_->record(targets_[i], success, now);
}

}  // namespace portico::upstream
