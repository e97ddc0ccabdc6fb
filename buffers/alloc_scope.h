// Marks heap allocations that a counting test must not charge to the code under test: those of
// a peer that only stands in for a server or a device (the scripted SMB2 server, the fake
// verbs), which run in the same process. Linking this changes nothing by itself; the
// allocation counter (alloc_counter.h) reads it.
#ifndef SMBD_BUFFERS_ALLOC_SCOPE_H_
#define SMBD_BUFFERS_ALLOC_SCOPE_H_

namespace smbd {

// While one lives on a thread, that thread's allocations are not counted.
class UncountedAllocations {
 public:
  UncountedAllocations();
  ~UncountedAllocations();
  UncountedAllocations(const UncountedAllocations&) = delete;
  UncountedAllocations& operator=(const UncountedAllocations&) = delete;
};

// Whether the calling thread's allocations are counted now.
bool AllocationsCountedOnThisThread();

}  // namespace smbd

#endif  // SMBD_BUFFERS_ALLOC_SCOPE_H_
