#include "buffers/alloc_scope.h"

namespace smbd {
namespace {
thread_local int t_uncounted = 0;
}  // namespace

UncountedAllocations::UncountedAllocations() { ++t_uncounted; }
UncountedAllocations::~UncountedAllocations() { --t_uncounted; }
bool AllocationsCountedOnThisThread() { return t_uncounted == 0; }

}  // namespace smbd
