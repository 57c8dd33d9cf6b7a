// Consistent hashing over the upstream's shared Maglev table. When a key's target cannot take
// it, the key walks forward in the table to the next target that can: only the keys of a
// target that leaves move, and they come back when it returns.
#pragma once

#include <cstdint>
#include <memory>

#include "upstream/balancer.h"
#include "upstream/maglev_table.h"

namespace portico::upstream {

class ConsistentHashBalancer final : public Balancer {
 public:
  ConsistentHashBalancer(std::shared_ptr<UpstreamState> state,
                         std::shared_ptr<const MaglevTable> table);

 private:
  std::size_t choose(std::uint64_t key_hash, const Eligible& eligible) override;

  std::shared_ptr<const MaglevTable> table_;
};

}  // namespace portico::upstream
