// For tests that prove a path allocates nothing: linking portico_allocation_counter replaces the
// binary's global operator new with one that counts its calls.
#pragma once

namespace portico::testing {

long allocations_so_far();

}  // namespace portico::testing
