// The clock of the resilience primitives. Every call takes `now` so tests drive time; shared
// state stores instants as nanoseconds since the clock's epoch in 64-bit atomics.
#pragma once

#include <chrono>
#include <cstdint>

namespace portico::upstream {

using Clock = std::chrono::steady_clock;

inline std::int64_t to_ticks(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline std::int64_t to_ticks(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace portico::upstream
