#include "filters/jwt_auth/token_cache.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace portico::jwt {

namespace {

// A token being looked up, hashed once for both the shard and the table; no allocation.
struct TokenView {
  std::string_view text;
  std::size_t hash;
};

// A cached token's full text: a lookup matches only the very same token, never one that
// merely shares its hash. An entry costs its token's length (the verifier's max_token_bytes
// bounds it). Hashing OpenSSL's SHA-256 instead would allocate on every lookup.
struct StoredToken {
  std::string text;
  std::size_t hash;
};

struct TokenHash {
  using is_transparent = void;
  std::size_t operator()(const TokenView& token) const { return token.hash; }
  std::size_t operator()(const StoredToken& token) const { return token.hash; }
};

// Texts are compared only when the hashes agree, which an attacker cannot arrange for a token
// they do not hold: how long a shared prefix is never shows in the timing.
struct TokenEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return a.hash == b.hash && std::string_view(a.text) == std::string_view(b.text);
  }
};

TokenView view_of(std::string_view token) {
  return {token, std::hash<std::string_view>{}(token)};
}

}  // namespace

// Eviction is CLOCK, not LRU: a hit only sets a flag, where LRU would relink a list node on
// every request. The hand gives an entry used since its last pass a second chance, unless
// the entry has expired.
struct alignas(64) TokenCache::Shard {
  struct Slot {
    const StoredToken* key = nullptr;  // in `index`; null: the slot is free
    std::shared_ptr<const VerifiedToken> token;
    std::int64_t expires_at = 0;  // the entry is gone from this second on
    bool referenced = false;
  };

  // Held only for a table lookup or update and a shared_ptr copy; with 16 shards, workers
  // on different tokens seldom wait for each other.
  std::mutex mutex;
  std::unordered_map<StoredToken, std::uint32_t, TokenHash, TokenEqual> index;  // -> slot
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_slots;
  std::size_t hand = 0;

  void forget(Slot& slot) {
    index.erase(index.find(TokenView{slot.key->text, slot.key->hash}));
    slot.key = nullptr;
  }

  // Returns the entry's token so that the caller frees it after unlocking.
  std::shared_ptr<const VerifiedToken> release(std::uint32_t slot) {
    forget(slots[slot]);
    free_slots.push_back(slot);
    return std::move(slots[slot].token);
  }

  // A slot for a new entry: a free one, a new one while under capacity, else the hand's pick.
  std::uint32_t take_slot(std::size_t capacity, std::int64_t now) {
    if (!free_slots.empty()) {
      const std::uint32_t slot = free_slots.back();
      free_slots.pop_back();
      return slot;
    }
    if (slots.size() < capacity) {
      slots.emplace_back();
      return static_cast<std::uint32_t>(slots.size() - 1);
    }
    for (;;) {
      const auto slot = static_cast<std::uint32_t>(hand);
      hand = (hand + 1) % slots.size();
      Slot& candidate = slots[slot];
      if (candidate.referenced && candidate.expires_at > now) {
        candidate.referenced = false;  // a second chance; at most one lap of these
        continue;
      }
      forget(candidate);
      return slot;
    }
  }
};

TokenCache::TokenCache(std::size_t capacity, std::size_t shards) {
  shard_count_ = std::clamp<std::size_t>(std::min(shards, capacity), 1, 256);
  shard_capacity_ = capacity / shard_count_;  // the total never exceeds `capacity`
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shards_[i].index.reserve(shard_capacity_);
    shards_[i].free_slots.reserve(shard_capacity_);  // find() may free a slot: no allocation
  }
}

TokenCache::~TokenCache() = default;

std::shared_ptr<const VerifiedToken> TokenCache::find(std::string_view token,
                                                      std::int64_t now_unix) {
  if (shard_capacity_ == 0) return nullptr;
  const TokenView key = view_of(token);
  Shard& shard = shards_[(key.hash >> 40) % shard_count_];  // not the bits the table uses
  std::shared_ptr<const VerifiedToken> expired;             // freed after the lock is released
  std::lock_guard lock(shard.mutex);
  const auto found = shard.index.find(key);
  if (found == shard.index.end()) return nullptr;
  Shard::Slot& slot = shard.slots[found->second];
  if (now_unix >= slot.expires_at) {
    expired = shard.release(found->second);
    return nullptr;
  }
  slot.referenced = true;
  return slot.token;
}

void TokenCache::insert(std::string_view token, std::shared_ptr<const VerifiedToken> verified,
                        std::int64_t now_unix, std::chrono::seconds max_ttl) {
  if (shard_capacity_ == 0 || !verified) return;
  std::int64_t expires_at = now_unix + std::max<std::int64_t>(max_ttl.count(), 0);
  if (verified->expires_at) expires_at = std::min(expires_at, *verified->expires_at);
  if (expires_at <= now_unix) return;

  const TokenView key = view_of(token);
  Shard& shard = shards_[(key.hash >> 40) % shard_count_];
  std::shared_ptr<const VerifiedToken> replaced;  // freed after the lock is released
  std::lock_guard lock(shard.mutex);
  std::uint32_t slot;
  if (const auto found = shard.index.find(key); found != shard.index.end()) {
    slot = found->second;
  } else {
    slot = shard.take_slot(shard_capacity_, now_unix);
    const auto added = shard.index.emplace(StoredToken{std::string(token), key.hash}, slot);
    shard.slots[slot].key = &added.first->first;
  }
  Shard::Slot& entry = shard.slots[slot];
  replaced = std::exchange(entry.token, std::move(verified));
  entry.expires_at = expires_at;
  entry.referenced = false;
}

void TokenCache::clear() {
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mutex);
    shard.slots.clear();
    shard.index.clear();
    shard.free_slots.clear();
    shard.hand = 0;
  }
}

std::size_t TokenCache::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].index.size();
  }
  return total;
}

}  // namespace portico::jwt
