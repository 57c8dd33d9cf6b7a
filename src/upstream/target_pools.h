// A worker's side of the upstreams: its connection pool for each target and its balancer's
// pick. What an action needs from the worker to run an exchange, without knowing the worker.
#pragma once

#include <cstddef>
#include <cstdint>

#include "upstream/connection_pool.h"

namespace portico::upstream {

// One upstream of one config snapshot: its index there, and the address of its entry in that
// snapshot. A request begun before a reload keeps the snapshot it began with, whose indexes may
// differ from the new one's; the address tells the two apart.
struct UpstreamSlot {
  std::size_t index;
  const void* identity;
};

class TargetPools {
 public:
  virtual ~TargetPools() = default;
  virtual ConnectionPool& pool(UpstreamSlot upstream, std::size_t target) = 0;
  // The target for an attempt on `upstream` (see Balancer::pick); `avoid`: the one that failed.
  virtual std::size_t pick_target(UpstreamSlot upstream, std::uint64_t key_hash,
                                  std::size_t avoid) = 0;
};

}  // namespace portico::upstream
