// Benchmarks for the message layer: encoding a READ/WRITE request and decoding its response, and
// building a 3-member compound (CREATE + READ + CLOSE). Each reports heap allocations per
// iteration ("allocs"): after warm-up the path uses only the page pool, the Bvecq node cache
// and the message cache.
//   bazel run --config=opt //smb2:smb2_benchmark
#include <vector>

#include "benchmark/benchmark.h"
#include "buffers/alloc_counter.h"
#include "buffers/page_pool.h"
#include "smb2/compound.h"
#include "smb2/header.h"
#include "smb2/message.h"
#include "smb2/pdu/close.h"
#include "smb2/pdu/create.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/write.h"

namespace smbd {
namespace {

std::unique_ptr<PagePool> Pool() {
  PagePoolOptions o;
  o.max_bytes = 64 << 20;
  o.initial_slabs = 1;
  return PagePool::Create(o).value();
}

void Report(benchmark::State& state, uint64_t before) {
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(HeapAllocations() - before),
                                                benchmark::Counter::kAvgIterations);
}

// A READ response as a server sends it: header + 16-byte body + `n` data bytes.
std::vector<uint8_t> ReadResponseBytes(uint32_t n) {
  std::vector<uint8_t> b(80 + n, 0xAB);
  Smb2Header h;
  h.command = Command::kRead;
  h.flags = kFlagServerToRedir;
  WireWriter w(absl::MakeSpan(b));
  EncodeHeader(h, &w);
  w.U16(17);
  w.U8(0x50);
  w.U8(0);
  w.U32(n);
  w.U32(0);
  w.U32(0);
  (void)w.Finish();
  return b;
}

void BM_ReadRequestEncodeResponseDecode(benchmark::State& state) {
  auto pool = Pool();
  const std::vector<uint8_t> resp = ReadResponseBytes(65536);
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    SmbMessageRef m = SmbMessage::New();
    m->header.command = Command::kRead;
    m->header.credit_charge = 1;
    ReadRequest req;
    req.length = 65536;
    req.offset = 1 << 20;
    req.file_id = FileId{1, 2};
    CompoundWriter cw(&m->request, pool.get());
    EncodeReadRequest(req, cw.Begin(m.get(), false));
    cw.End();
    if (!cw.Finish().ok()) state.SkipWithError("encode");
    WireReader r(absl::MakeConstSpan(resp));
    absl::StatusOr<Smb2Header> h = DecodeHeader(&r);
    absl::StatusOr<ReadResponse> d = DecodeReadResponse(WireReader(absl::MakeConstSpan(resp)));
    benchmark::DoNotOptimize(h);
    benchmark::DoNotOptimize(d);
  }
  Report(state, before);
}
BENCHMARK(BM_ReadRequestEncodeResponseDecode);

void BM_WriteRequestEncodeResponseDecode(benchmark::State& state) {
  auto pool = Pool();
  std::vector<uint8_t> data(65536, 1);
  std::vector<uint8_t> resp(64 + 16, 0);
  {
    Smb2Header h;
    h.command = Command::kWrite;
    h.flags = kFlagServerToRedir;
    WireWriter w(absl::MakeSpan(resp));
    EncodeHeader(h, &w);
    w.U16(17);
    w.U16(0);
    w.U32(65536);
    w.U32(0);
    w.U16(0);
    w.U16(0);
    (void)w.Finish();
  }
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    SmbMessageRef m = SmbMessage::New();
    m->header.command = Command::kWrite;
    m->header.credit_charge = 1;
    Bvecq payload;
    (void)payload.AppendExternal(data.data(), data.size());  // the caller's bytes, not copied
    WriteRequest req;
    req.length = 65536;
    req.file_id = FileId{1, 2};
    CompoundWriter cw(&m->request, pool.get());
    (void)EncodeWriteRequest(req, &payload, cw.Begin(m.get(), false));
    cw.End();
    if (!cw.Finish().ok()) state.SkipWithError("encode");
    absl::StatusOr<WriteResponse> d = DecodeWriteResponse(WireReader(absl::MakeConstSpan(resp)));
    benchmark::DoNotOptimize(d);
  }
  Report(state, before);
}
BENCHMARK(BM_WriteRequestEncodeResponseDecode);

void BM_ThreeMemberCompound(benchmark::State& state) {
  auto pool = Pool();
  const std::string name = "dir\\subdir\\file.bin";
  const uint64_t before = HeapAllocations();
  for (auto _ : state) {
    SmbMessageRef open = SmbMessage::New();
    SmbMessageRef read = SmbMessage::New();
    SmbMessageRef close = SmbMessage::New();
    open->header.command = Command::kCreate;
    read->header.command = Command::kRead;
    close->header.command = Command::kClose;
    open->next = read;
    read->next = close;
    CreateRequest c;
    c.name = name;
    c.desired_access = 0x120089;
    c.create_disposition = 1;
    ReadRequest r;
    r.length = 65536;
    r.file_id = FileId::Related();
    CloseRequest cl;
    cl.file_id = FileId::Related();
    CompoundWriter cw(&open->request, pool.get());
    (void)EncodeCreateRequest(c, cw.Begin(open.get(), false));
    cw.End();
    EncodeReadRequest(r, cw.Begin(read.get(), true));
    cw.End();
    EncodeCloseRequest(cl, cw.Begin(close.get(), true));
    cw.End();
    if (!cw.Finish().ok()) state.SkipWithError("encode");
    benchmark::DoNotOptimize(open->request.size());
  }
  Report(state, before);
}
BENCHMARK(BM_ThreeMemberCompound);

}  // namespace
}  // namespace smbd
