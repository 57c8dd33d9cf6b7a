// The memory store: entries shared by every worker, in shards each with its own lock and its
// own least-recently-used order, bounded in bytes. A lookup holds a shard's lock for a hash
// probe and a list splice; the answer is shared, so a hit copies one pointer.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "filters/cache/cached_answer.h"

namespace portico::filters::cache {

using AnswerPtr = std::shared_ptr<const CachedAnswer>;

class MemoryCacheStore {
 public:
  // `max_bytes` bounds keys plus entries; `max_object_bytes` (the largest entry) sets how
  // many shards the bound can be split into without an entry outgrowing its shard.
  MemoryCacheStore(std::uint64_t max_bytes, std::uint64_t max_object_bytes);

  AnswerPtr find(std::string_view key);  // null on a miss; a hit becomes the most recent
  // Replaces any entry of that key; evicts the least recently used until it fits.
  void put(std::string_view key, AnswerPtr answer);
  void erase(std::string_view key);
  // Removes every entry `match` says yes to; how many.
  std::size_t erase_if(const std::function<bool(const CachedAnswer&)>& match);

  std::uint64_t bytes() const;
  std::size_t entries() const;

 private:
  struct Item {
    std::string key;
    AnswerPtr answer;
    std::size_t cost = 0;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Item> order;  // front: most recently used
    std::unordered_map<std::string_view, std::list<Item>::iterator> index;  // views into order
    std::uint64_t bytes = 0;
    std::uint64_t limit = 0;
  };
  Shard& shard_of(std::string_view key);
  static void drop(Shard& shard, std::list<Item>::iterator it);

  std::uint64_t max_bytes_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace portico::filters::cache
