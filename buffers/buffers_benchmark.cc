// Benchmarks for buffers/: fragment alloc/free, gathering a 1 MiB Bvecq into iovecs and SGEs,
// WireReader throughput. Each reports heap allocations per iteration ("allocs") as a counter.
//   bazel run -c opt //buffers:buffers_benchmark
#include <sys/uio.h>

#include <vector>

#include "benchmark/benchmark.h"
#include "buffers/alloc_counter.h"
#include "buffers/bvecq.h"
#include "buffers/fake_registrar.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"

namespace smbd {
namespace {

std::unique_ptr<PagePool> MakePool(MemoryRegistrar* reg) {
  PagePoolOptions o;
  o.max_bytes = 64 << 20;
  o.initial_slabs = 2;
  o.registrar = reg;
  return PagePool::Create(o).value();
}

void ReportAllocs(benchmark::State& state, uint64_t before) {
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(HeapAllocations() - before),
                                                benchmark::Counter::kAvgIterations);
}

void BM_FragmentAllocFree(benchmark::State& state) {
  auto pool = MakePool(nullptr);
  FragAllocator frags(pool.get());
  const size_t len = state.range(0);
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    absl::StatusOr<Fragment> f = frags.Alloc(len);
    benchmark::DoNotOptimize(f->data);
  }
  ReportAllocs(state, before);
}
BENCHMARK(BM_FragmentAllocFree)->Arg(64)->Arg(512);

void BM_PageAllocFree(benchmark::State& state) {
  auto pool = MakePool(nullptr);
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    absl::StatusOr<PageRef> p = pool->TryAlloc();
    benchmark::DoNotOptimize(p->data());
  }
  ReportAllocs(state, before);
}
BENCHMARK(BM_PageAllocFree);

// A 1 MiB queue of 256 pages. `contiguous`: pages in address order (merge into few entries);
// otherwise every page starts at offset 64, so nothing merges (worst case).
Bvecq MakeMebibyte(PagePool* pool, bool contiguous) {
  Bvecq q;
  for (int i = 0; i < 256; ++i) {
    PageRef p = pool->TryAlloc().value();
    if (contiguous) {
      (void)q.Append(std::move(p), 0, kPageSize);
    } else {
      (void)q.Append(std::move(p), 64, kPageSize - 64);
    }
  }
  return q;
}

void BM_GatherIovec1MiB(benchmark::State& state) {
  auto pool = MakePool(nullptr);
  Bvecq q = MakeMebibyte(pool.get(), state.range(0) != 0);
  iovec iov[64];  // IOV_MAX is 1024; batches of 64 like a sendmsg loop
  const uint64_t before = HeapAllocations();
  int entries = 0;
  for (auto _ : state) {
    BvecqIter it = q.begin();
    entries = 0;
    while (it.remaining() > 0) entries += it.GatherIovec(iov, 64, UINT64_MAX).entries;
    benchmark::DoNotOptimize(iov);
  }
  state.counters["entries"] = entries;
  state.SetBytesProcessed(state.iterations() * q.size());
  ReportAllocs(state, before);
}
BENCHMARK(BM_GatherIovec1MiB)->Arg(1)->Arg(0);

void BM_GatherSge1MiB(benchmark::State& state) {
  FakeRegistrar reg;
  auto pool = MakePool(&reg);
  Bvecq q = MakeMebibyte(pool.get(), state.range(0) != 0);
  Sge sge[4];  // rxe-like small max_sge, 1364-byte sends would be smaller still
  const uint64_t before = HeapAllocations();
  int entries = 0;
  for (auto _ : state) {
    BvecqIter it = q.begin();
    entries = 0;
    while (it.remaining() > 0) entries += it.GatherSge(sge, 4, 65536).entries;
    benchmark::DoNotOptimize(sge);
  }
  state.counters["entries"] = entries;
  state.SetBytesProcessed(state.iterations() * q.size());
  ReportAllocs(state, before);
}
BENCHMARK(BM_GatherSge1MiB)->Arg(1)->Arg(0);

void BM_WireReaderU32(benchmark::State& state) {
  auto pool = MakePool(nullptr);
  const bool queue = state.range(0) != 0;
  Bvecq q = MakeMebibyte(pool.get(), false);
  std::vector<uint8_t> flat(q.size());
  q.begin().CopyOut(absl::MakeSpan(flat));
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    uint32_t sum = 0, v = 0;
    if (queue) {
      WireReader r(q.begin());
      while (r.U32(&v)) sum += v;
    } else {
      WireReader r(absl::MakeConstSpan(flat));
      while (r.U32(&v)) sum += v;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * q.size());
  ReportAllocs(state, before);
}
BENCHMARK(BM_WireReaderU32)->ArgName("queue")->Arg(0)->Arg(1);

}  // namespace
}  // namespace smbd
