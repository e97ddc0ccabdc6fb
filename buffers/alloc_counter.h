// A replacement global operator new that counts calls, so that tests and benchmarks can show a
// code path performs no heap allocation. Linking this library replaces operator new for the
// whole binary.
#ifndef SMBD_BUFFERS_ALLOC_COUNTER_H_
#define SMBD_BUFFERS_ALLOC_COUNTER_H_

#include <cstdint>

namespace smbd {

// Number of global operator new calls since the program started, on every thread, except
// those made under an UncountedAllocations scope (buffers/alloc_scope.h).
uint64_t HeapAllocations();

}  // namespace smbd

#endif  // SMBD_BUFFERS_ALLOC_COUNTER_H_
