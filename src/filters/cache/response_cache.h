// The process's response cache: its store (memory, shared by every worker, or Redis through
// each worker's client), the fill locks that coalesce concurrent misses, and purges. One per
// process, carried across reloads while `cache:` is unchanged, so entries survive a reload.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "filters/cache/cache_config.h"
#include "filters/cache/cached_answer.h"
#include "filters/cache/fill_locks.h"
#include "filters/cache/memory_cache_store.h"

namespace portico::stores::redis {
class RedisClient;
class RedisClients;
}  // namespace portico::stores::redis

namespace portico::filters::cache {

class ResponseCache {
 public:
  explicit ResponseCache(const CacheConfig& config);
  ~ResponseCache();

  const CacheConfig& config() const { return config_; }
  bool uses_redis() const { return !memory_; }
  MemoryCacheStore* memory() { return memory_.get(); }
  FillLocks& locks() { return locks_; }

  // Redis store, on the calling worker's client. A failure is a miss (null), never an error.
  boost::asio::awaitable<AnswerPtr> redis_find(stores::redis::RedisClients& clients,
                                               std::string_view key);
  // On `io`, without the request that stored it waiting for Redis; `done` runs there once
  // Redis has answered (or failed), so a fill lock can be held until the entry is visible.
  void redis_put(boost::asio::io_context& io, stores::redis::RedisClients& clients,
                 std::string_view key, const CachedAnswer& answer,
                 std::function<void()> done = nullptr);

  // DELETE /admin/cache?prefix=: every entry whose path starts with `prefix`, in whichever
  // store this cache uses; how many. Redis purges run on `io` with a client of their own.
  boost::asio::awaitable<std::size_t> purge(boost::asio::io_context& io, std::string prefix);
  // A route's cache settings changed: its entries are dropped (memory store; Redis entries
  // of the old settings are no longer reachable, their keys name the settings, and expire).
  void drop_route(std::string_view route_tag);

  // The store's key for a cache key.
  static std::string redis_key(std::string_view key);

 private:
  CacheConfig config_;
  std::unique_ptr<MemoryCacheStore> memory_;
  FillLocks locks_;
  struct AdminClient;
  std::unique_ptr<AdminClient> admin_;  // the purge's own Redis client (main thread)
};

// The process's cache (null without `cache:`); `previous` is taken as it is when `cache:` is
// unchanged, entries and all.
std::shared_ptr<ResponseCache> build_response_cache(const std::optional<CacheConfig>& config,
                                                    const std::shared_ptr<ResponseCache>& previous);

}  // namespace portico::filters::cache
