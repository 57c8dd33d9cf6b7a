#include "filters/cache/fill_locks.h"

#include <boost/asio/post.hpp>

namespace portico::filters::cache {

FillLocks::Shard& FillLocks::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

bool FillLocks::acquire_or_wait(std::string_view key, const std::shared_ptr<FillWaiter>& waiter) {
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.fills.find(key); it != shard.fills.end()) {
    it->second.waiters.push_back(waiter);
    return false;
  }
  shard.fills.emplace(std::string(key), Fill{});
  return true;
}

bool FillLocks::try_acquire(std::string_view key) {
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (shard.fills.find(key) != shard.fills.end()) return false;
  shard.fills.emplace(std::string(key), Fill{});
  return true;
}

void FillLocks::release(std::string_view key, FillOutcome outcome,
                        std::shared_ptr<const CachedAnswer> answer, std::string_view answer_key) {
  std::vector<std::shared_ptr<FillWaiter>> waiters;
  {
    auto& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto it = shard.fills.find(key);
    if (it == shard.fills.end()) return;
    waiters = std::move(it->second.waiters);
    shard.fills.erase(it);
  }
  for (auto& waiter : waiters) {
    auto executor = waiter->timer.get_executor();
    boost::asio::post(executor, [waiter = std::move(waiter), outcome, answer,
                                 key = std::string(answer_key)]() mutable {
      waiter->outcome = outcome;
      waiter->answer = std::move(answer);
      waiter->answer_key = std::move(key);
      waiter->timer.cancel();
    });
  }
}

}  // namespace portico::filters::cache
