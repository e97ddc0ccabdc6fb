#include "buffers/alloc_counter.h"

#include "buffers/alloc_scope.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace smbd {
namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

uint64_t HeapAllocations() { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace smbd

void* operator new(std::size_t n) {
  if (smbd::AllocationsCountedOnThisThread()) {
    smbd::g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (smbd::AllocationsCountedOnThisThread()) {
    smbd::g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
