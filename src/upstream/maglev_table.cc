#include "upstream/maglev_table.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "upstream/key_hash.h"

namespace portico::upstream {
namespace {

constexpr std::uint32_t empty = UINT32_MAX;

}  // namespace

std::size_t MaglevTable::size_for(std::size_t target_count) {
  if (target_count <= 16) return 4099;
  if (target_count <= 64) return 16411;
  return 65537;
}

MaglevTable::MaglevTable(const std::vector<config::Target>& targets) {
  if (targets.empty()) throw std::invalid_argument("a Maglev table needs targets");
  const std::size_t m = size_for(targets.size());
  const std::size_t n = targets.size();
  // Target i visits slots offset, offset + skip, offset + 2 skip, ... (mod m): with m prime
  // and 0 < skip < m that is a permutation of all slots.
  std::vector<std::uint64_t> offset(n), skip(n), next(n, 0);
  std::unordered_map<std::string, int> seen;  // the same host:port twice still gets two places
  std::uint32_t heaviest = 1;
  for (std::size_t i = 0; i < n; ++i) {
    // Appended piece by piece: GCC 12 misreports `string + "..."` chains as overlapping copies.
    std::string name = targets[i].host;
    name += ':';
    name += std::to_string(targets[i].port);
    const int copy = seen[name]++;
    name += '#';
    name += std::to_string(copy);
    std::uint64_t h = hash_bytes(name);
    offset[i] = h % m;
    skip[i] = mix64(h ^ 0x5bd1e9955bd1e995ULL) % (m - 1) + 1;
    heaviest = std::max(heaviest, targets[i].weight);
  }
  // Round by round each target claims its next free slot, but weighted: a target gains its
  // weight in credit each round and claims one slot per `heaviest` of credit. The credit starts
  // so that every target claims in the first round: none is left without a slot.
  entries_.assign(m, empty);
  std::vector<std::uint64_t> credit(n);
  for (std::size_t i = 0; i < n; ++i) credit[i] = heaviest - targets[i].weight;
  std::size_t filled = 0;
  while (filled < m) {
    for (std::size_t i = 0; i < n && filled < m; ++i) {
      credit[i] += targets[i].weight;
      for (; credit[i] >= heaviest && filled < m; credit[i] -= heaviest) {
        std::size_t slot;
        do {
          slot = (offset[i] + next[i]++ * skip[i]) % m;
        } while (entries_[slot] != empty);
        entries_[slot] = static_cast<std::uint32_t>(i);
        ++filled;
      }
    }
  }
}

}  // namespace portico::upstream
