#include "filters/cache/memory_cache_store.h"

#include <algorithm>

namespace portico::filters::cache {

namespace {
// What an entry costs beyond its bytes: the list node, the index slot, the shared_ptr block.
constexpr std::size_t kItemOverhead = 160;
}  // namespace

MemoryCacheStore::MemoryCacheStore(std::uint64_t max_bytes, std::uint64_t max_object_bytes)
    : max_bytes_(max_bytes) {
  // Sixteen shards spread the locks, unless that would leave a shard smaller than a few of
  // the largest objects.
  std::uint64_t per_object = std::max<std::uint64_t>(max_object_bytes, 1) * 4;
  std::size_t count =
      static_cast<std::size_t>(std::clamp<std::uint64_t>(max_bytes / per_object, 1, 16));
  for (std::size_t i = 0; i < count; ++i) {
    shards_.push_back(std::make_unique<Shard>());
    shards_.back()->limit = max_bytes / count;
  }
}

MemoryCacheStore::Shard& MemoryCacheStore::shard_of(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

void MemoryCacheStore::drop(Shard& shard, std::list<Item>::iterator it) {
  shard.bytes -= it->cost;
  shard.index.erase(it->key);
  shard.order.erase(it);
}

AnswerPtr MemoryCacheStore::find(std::string_view key) {
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return nullptr;
  shard.order.splice(shard.order.begin(), shard.order, it->second);
  return it->second->answer;
}

void MemoryCacheStore::put(std::string_view key, AnswerPtr answer) {
  auto& shard = shard_of(key);
  std::size_t cost = key.size() + answer->size() + kItemOverhead;
  // Freed outside the lock: the last reference to a large body is not released under it.
  std::vector<AnswerPtr> evicted;
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.index.find(key); it != shard.index.end()) {
    evicted.push_back(std::move(it->second->answer));
    drop(shard, it->second);
  }
  if (cost > shard.limit) return;
  while (shard.bytes + cost > shard.limit && !shard.order.empty()) {
    auto last = std::prev(shard.order.end());
    evicted.push_back(std::move(last->answer));
    drop(shard, last);
  }
  shard.order.push_front(Item{std::string(key), std::move(answer), cost});
  shard.index.emplace(shard.order.front().key, shard.order.begin());
  shard.bytes += cost;
}

void MemoryCacheStore::erase(std::string_view key) {
  auto& shard = shard_of(key);
  AnswerPtr held;
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.index.find(key); it != shard.index.end()) {
    held = std::move(it->second->answer);
    drop(shard, it->second);
  }
}

std::size_t MemoryCacheStore::erase_if(const std::function<bool(const CachedAnswer&)>& match) {
  std::size_t erased = 0;
  for (auto& shard : shards_) {
    std::vector<AnswerPtr> held;
    std::lock_guard lock(shard->mutex);
    for (auto it = shard->order.begin(); it != shard->order.end();) {
      auto next = std::next(it);
      if (match(*it->answer)) {
        // A Vary marker counts as no entry of its own: the answers under it are counted.
        if (!it->answer->vary_marker) ++erased;
        held.push_back(std::move(it->answer));
        drop(*shard, it);
      }
      it = next;
    }
  }
  return erased;
}

std::uint64_t MemoryCacheStore::bytes() const {
  std::uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->bytes;
  }
  return total;
}

std::size_t MemoryCacheStore::entries() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->order.size();
  }
  return total;
}

}  // namespace portico::filters::cache
