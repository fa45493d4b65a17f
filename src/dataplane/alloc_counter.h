// Test support: counts heap allocations (operator new) made by the calling
// thread between Start and Stop, to check that packet paths never allocate.
// Linking alloc_counter.cc replaces the global operator new / delete.
#pragma once

#include <cstddef>

namespace keycast::dataplane::testing {

void StartCountingAllocations();
// Returns the number of allocations since Start on this thread.
size_t StopCountingAllocations();

}  // namespace keycast::dataplane::testing
