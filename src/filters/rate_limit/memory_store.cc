#include "filters/rate_limit/memory_store.h"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <new>

namespace portico::filters::rate_limit {
namespace {

template <class T>
std::atomic_ref<T> atomic(T& value) {
  return std::atomic_ref<T>(value);
}

}  // namespace

MemoryStore::MemoryStore(std::uint64_t max_keys) : max_keys_(max_keys) {
  slot_count_ = std::bit_ceil(std::max<std::uint64_t>(max_keys, kWindow));
  void* memory = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  slots_ = static_cast<Slot*>(memory);
}

MemoryStore::~MemoryStore() {
  munmap(slots_, bytes());
}

MemoryStore::Slot* MemoryStore::find_or_claim(std::uint64_t key, std::int64_t now) {
  key |= 1;  // 0 marks a slot never used
  Slot* window = slots_ + (key & (slot_count_ - 1) & ~(kWindow - 1));
  for (int attempt = 0; attempt < 4; ++attempt) {
    Slot* victim = nullptr;
    std::uint64_t victim_key = 0;
    std::int64_t victim_tat = 0;
    for (std::size_t i = 0; i < kWindow; ++i) {
      Slot& slot = window[i];
      std::uint64_t held = atomic(slot.key).load(std::memory_order_acquire);
      if (held == key) return &slot;
      std::int64_t tat = atomic(slot.tat).load(std::memory_order_relaxed);
      // An empty slot, then an idle one (a full bucket), then the one refilled longest ago.
      auto rank = [now](std::uint64_t k, std::int64_t t) { return k == 0 ? 0 : t <= now ? 1 : 2; };
      int r = rank(held, tat), victim_r = victim ? rank(victim_key, victim_tat) : 3;
      bool better = r < victim_r || (r == 2 && victim_r == 2 && tat < victim_tat);
      if (better) {
        victim = &slot;
        victim_key = held;
        victim_tat = tat;
      }
    }
    if (atomic(victim->key).compare_exchange_strong(victim_key, key, std::memory_order_acq_rel)) {
      // The new key starts with a full bucket; an evicted key's TAT must not carry over.
      if (victim_tat > now) atomic(victim->tat).store(0, std::memory_order_release);
      return victim;
    }
  }
  return nullptr;  // the window changed under us four times: decide without a bucket
}

int MemoryStore::decide(std::span<const BucketCheck> checks, std::int64_t now,
                        std::span<GcraDecision> out) {
  constexpr std::size_t kMaxChecks = 16;
  Slot* slots[kMaxChecks] = {};
  std::int64_t seen[kMaxChecks] = {};
  std::size_t n = std::min(checks.size(), kMaxChecks);
  int refused = -1;
  for (std::size_t i = 0; i < n; ++i) {
    slots[i] = find_or_claim(checks[i].key_hash, now);
    seen[i] = slots[i] ? atomic(slots[i]->tat).load(std::memory_order_acquire) : 0;
    out[i] = gcra_decide(seen[i], now, checks[i].limit);
    if (!out[i].allowed && refused < 0) refused = static_cast<int>(i);
  }
  if (refused >= 0) return refused;
  // All admit: charge each; one that changed meanwhile is decided again, and a refusal then
  // gives back what the earlier ones were charged.
  for (std::size_t i = 0; i < n; ++i) {
    if (!slots[i]) continue;
    auto tat = atomic(slots[i]->tat);
    while (!tat.compare_exchange_weak(seen[i], out[i].tat, std::memory_order_acq_rel)) {
      out[i] = gcra_decide(seen[i], now, checks[i].limit);
      if (out[i].allowed) continue;
      for (std::size_t j = 0; j < i; ++j) {
        if (slots[j]) atomic(slots[j]->tat).fetch_sub(checks[j].limit.interval);
      }
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::size_t MemoryStore::live_keys(std::int64_t now) const {
  std::size_t live = 0;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    Slot& slot = slots_[i];
    if (atomic(slot.key).load() != 0 && atomic(slot.tat).load() > now) ++live;
  }
  return live;
}

}  // namespace portico::filters::rate_limit
