#include "filters/cache/fill_locks.h"

#include <boost/asio/post.hpp>

namespace portico::filters::cache {

FillLocks::Shard& FillLocks::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

bool FillLocks::acquire_or_wait(std::string_view key, const std::shared_ptr<FillWaiter>& waiter) {
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.fills.try_emplace(std::string(key));
  if (!inserted) it->second.waiters.push_back(waiter);
  return inserted;
}

bool FillLocks::try_acquire(std::string_view key) {
  auto& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  return shard.fills.try_emplace(std::string(key)).second;
}

void FillLocks::release(std::string_view key, FillOutcome outcome,
                        std::shared_ptr<const CachedAnswer> answer, std::string_view answer_key) {
  std::vector<std::shared_ptr<FillWaiter>> waiters;
  {
    auto& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto it = shard.fills.find(std::string(key));
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

std::size_t FillLocks::held() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.fills.size();
  }
  return n;
}

}  // namespace portico::filters::cache
