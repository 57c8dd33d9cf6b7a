// Tokens that passed verification, so a route pays for a signature check once per token and
// not once per request: with it an RS256 route costs about what an HS256 route costs.
// Use one cache per provider (an entry means "this provider's keys and rules accepted this
// token") and clear it when the provider's keys change.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "filters/jwt_auth/verified_token.h"

namespace portico::jwt {

class TokenCache {
 public:
  static constexpr std::size_t default_capacity = 10'000;
  static constexpr std::chrono::seconds default_max_ttl{300};
  static constexpr std::size_t default_shards = 16;

  // At most `capacity` entries in all (0 caches nothing), split evenly over `shards` shards,
  // each with its own lock.
  explicit TokenCache(std::size_t capacity = default_capacity, std::size_t shards = default_shards);
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // The token's earlier verification, or null. Never at or past the token's exp, nor past
  // the max_ttl it was inserted with. Does not allocate. Safe from any thread.
  std::shared_ptr<const VerifiedToken> find(std::string_view token, std::int64_t now_unix);

  // Keeps `verified` until min(its exp, now + max_ttl); a full shard forgets the entry its
  // CLOCK hand finds unused first. Safe from any thread.
  void insert(std::string_view token, std::shared_ptr<const VerifiedToken> verified,
              std::int64_t now_unix, std::chrono::seconds max_ttl = default_max_ttl);

  void clear();
  std::size_t size() const;
  std::size_t capacity() const { return shard_capacity_ * shard_count_; }

 private:
  struct Shard;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_count_ = 0;
  std::size_t shard_capacity_ = 0;
};

}  // namespace portico::jwt
