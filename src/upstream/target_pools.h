// A worker's side of the upstreams: its connection pool for each target and its balancer's
// pick. What an action needs from the worker to run an exchange, without knowing the worker.
#pragma once

#include <cstddef>
#include <cstdint>

#include "upstream/connection_pool.h"

namespace portico::upstream {

class TargetPools {
 public:
  virtual ~TargetPools() = default;
  virtual ConnectionPool& pool(std::size_t upstream, std::size_t target) = 0;
  // The target for an attempt on `upstream` (see Balancer::pick); `avoid`: the one that failed.
  virtual std::size_t pick_target(std::size_t upstream, std::uint64_t key_hash,
                                  std::size_t avoid) = 0;
};

}  // namespace portico::upstream
