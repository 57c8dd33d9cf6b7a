// Maglev's lookup table (Eisenbud et al., NSDI 2016): a prime number of slots, each naming a
// target, filled by the targets' own permutations so that each owns a share of the slots in
// proportion to its weight, spread over the whole table. Built once per config, then read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/config.h"

namespace portico::upstream {

class MaglevTable {
 public:
  // A target's place in the table depends on its host:port, not its index, so a reload that
  // adds or removes a target leaves most keys where they were.
  explicit MaglevTable(const std::vector<config::Target>& targets);

  // A prime with at least 256 slots per target, well above Maglev's 100 (shares within about
  // 1% of the weights): 4099 up to 16 targets, 16411 up to 64, else 65537 (the cap). Few
  // sizes, so that a reload adding a target usually keeps the size, and with it most keys.
  static std::size_t size_for(std::size_t target_count);

  std::size_t size() const { return entries_.size(); }
  std::size_t slot(std::uint64_t key_hash) const { return key_hash % entries_.size(); }
  std::size_t target(std::size_t slot) const { return entries_[slot]; }

 private:
  std::vector<std::uint32_t> entries_;  // slot -> target index
};

}  // namespace portico::upstream
