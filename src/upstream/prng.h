// A per-worker pseudo-random generator (splitmix64): one add and three multiply-xorshifts per
// number, seeded once. Not thread-safe on purpose: each worker owns its own.
#pragma once

#include <cassert>
#include <cstdint>

namespace portico::upstream {

class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound <= 2^32: multiply-shift instead of a division (Lemire); the
  // bias is below bound / 2^32.
  std::uint64_t below(std::uint64_t bound) {
    assert(bound > 0 && bound <= (std::uint64_t{1} << 32));
    return ((next() >> 32) * bound) >> 32;
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace portico::upstream
