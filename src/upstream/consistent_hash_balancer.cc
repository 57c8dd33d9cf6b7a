#include "upstream/consistent_hash_balancer.h"

#include <stdexcept>

namespace portico::upstream {

ConsistentHashBalancer::ConsistentHashBalancer(std::shared_ptr<UpstreamState> state,
                                               std::shared_ptr<const MaglevTable> table)
    : Balancer(std::move(state)), table_(std::move(table)) {
  // A table built for another target list would name targets this state does not have.
  for (std::size_t slot = 0; slot < table_->size(); ++slot) {
    if (table_->target(slot) >= this->state().size()) {
      throw std::invalid_argument("the Maglev table was built for other targets");
    }
  }
}

std::size_t ConsistentHashBalancer::choose(std::uint64_t key_hash, const Eligible& eligible) {
  std::size_t slot = table_->slot(key_hash);
  std::size_t i = table_->target(slot);
  if (eligible(i)) return i;
  // Targets own slots spread over the table, so the walk is short while some target is
  // eligible; make sure one is before walking.
  if (!eligible.any()) return no_target;
  for (std::size_t walked = 1; walked < table_->size(); ++walked) {
    if (++slot == table_->size()) slot = 0;
    i = table_->target(slot);
    if (eligible(i)) return i;
  }
  return no_target;  // only with more targets than slots, some of which own none
}

}  // namespace portico::upstream
