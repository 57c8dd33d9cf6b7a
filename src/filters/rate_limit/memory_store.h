// The memory store: every policy's buckets in one table shared by all workers of the process,
// one slot per key (its hash and its GCRA TAT), updated by compare-and-swap without locks. Its
// size is fixed when it is made (max_keys), so a flood of distinct keys cannot grow it: a new
// key takes an empty slot, else an idle one (TAT in the past: a full bucket, nothing lost),
// else the least recently refilled of its probe window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "filters/rate_limit/gcra.h"

namespace portico::filters::rate_limit {

// One bucket a request draws from: which (the key's hash, policy included) and its shape.
struct BucketCheck {
  std::uint64_t key_hash = 0;
  GcraLimit limit;
};

class MemoryStore {
 public:
  explicit MemoryStore(std::uint64_t max_keys);
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // Decides one request against every bucket at `now` (ns, steady clock): when all admit it,
  // each is charged; when one refuses, none is. `out[i]` is bucket i's decision. Returns the
  // index of a refusing bucket, or -1 when admitted.
  int decide(std::span<const BucketCheck> checks, std::int64_t now, std::span<GcraDecision> out);

  std::uint64_t max_keys() const { return max_keys_; }
  std::size_t capacity() const { return slot_count_; }
  std::size_t bytes() const { return slot_count_ * sizeof(Slot); }
  std::size_t live_keys(std::int64_t now) const;  // slots whose bucket is not full (tests)

 private:
  struct alignas(16) Slot {
    std::uint64_t key;  // 0: never used
    std::int64_t tat;
  };
  static constexpr std::size_t kWindow = 8;  // slots probed per key: two cache lines

  Slot* find_or_claim(std::uint64_t key, std::int64_t now);

  std::uint64_t max_keys_;
  std::size_t slot_count_ = 0;  // a power of two, >= max_keys and >= kWindow
  Slot* slots_ = nullptr;       // zeroed pages from mmap: untouched keys cost no memory
};

}  // namespace portico::filters::rate_limit
