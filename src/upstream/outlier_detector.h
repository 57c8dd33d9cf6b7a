// Passive health: a target failing `consecutive_failures` attempts in a row is ejected for
// `eject_for`, but never more than `max_ejected` of the targets at once. Shared by all workers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/config.h"
#include "upstream/clock.h"

namespace portico::upstream {

class TargetState;

class OutlierDetector {
 public:
  OutlierDetector(const config::OutlierDetectionConfig& config, std::size_t target_count);

  // The outcome of one attempt on `target`; true when this failure ejected it.
  bool record(TargetState& target, bool success, Clock::time_point now);

  // How many targets may be ejected at once.
  std::size_t max_ejected() const { return slot_count_; }

 private:
  std::uint32_t threshold_;
  Clock::duration eject_for_;
  std::size_t slot_count_;
  // One slot per ejection allowed at once, holding the end of the ejection it was taken for
  // (ns). A slot is taken by CAS before the target is marked, so the bound holds exactly under
  // concurrency: a racing worker can at worst leave a slot unused, never eject one too many.
  // (Exactly in time: at any instant at most max_ejected ejections are running. A worker whose
  // `now` lags another's by microseconds may see an ejection that has just ended, by the other's
  // clock, beside the one that took its slot.)
  std::unique_ptr<std::atomic<std::int64_t>[]> slots_;
};

}  // namespace portico::upstream
