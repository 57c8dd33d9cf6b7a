// Coalescing of concurrent misses: the first miss of a key fills it (goes upstream); later
// misses of that key, on any worker, wait until the fill ends, then look again. Waiters are
// woken one message per waiter posted to its own worker, so nothing here blocks a loop, and
// how a fill ended tells them what to do: an entry stored means a hit; an answer that cannot
// be stored lets every waiter go upstream at once (they would get nothing by waiting); a fill
// that failed lets them contend again, so only one of them becomes the next filler.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "filters/cache/cached_answer.h"

namespace portico::filters::cache {

enum class FillOutcome { Pending, Stored, NotStorable, Failed };

// One waiting request. Only its own worker touches the timer; the outcome is written there too.
struct FillWaiter {
  explicit FillWaiter(boost::asio::any_io_executor executor) : timer(executor) {}
  boost::asio::steady_timer timer;
  FillOutcome outcome = FillOutcome::Pending;
  // Stored: the answer and the key it was stored under, so a waiter whose request maps to
  // that key serves it without looking in the store again.
  std::shared_ptr<const CachedAnswer> answer;
  std::string answer_key;
};

class FillLocks {
 public:
  // True: the caller is the key's filler and must call release() once. False: another request
  // fills it; `waiter` is woken when that one ends.
  bool acquire_or_wait(std::string_view key, const std::shared_ptr<FillWaiter>& waiter);
  // True when the key was free and is now the caller's (no waiting).
  bool try_acquire(std::string_view key);
  void release(std::string_view key, FillOutcome outcome,
               std::shared_ptr<const CachedAnswer> answer = nullptr,
               std::string_view answer_key = {});

 private:
  struct Fill {
    std::vector<std::shared_ptr<FillWaiter>> waiters;
  };
  // Looked up by string_view: a release or a wait makes no copy of the key.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Fill, KeyHash, std::equal_to<>> fills;
  };
  Shard& shard_of(std::string_view key);
  static constexpr std::size_t kShards = 16;
  Shard shards_[kShards];
};

}  // namespace portico::filters::cache
