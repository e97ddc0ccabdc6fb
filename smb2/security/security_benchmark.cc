// Throughput of signing and sealing over pool-page Bvecq messages of 64 KiB and 1 MiB.
//   bazel run --config=opt //smb2/security:security_benchmark
// Compare the seal figures with `openssl speed -evp aes-128-gcm` on the same machine.
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/sealing.h"
#include "smb2/security/signing.h"
#include "smb2/security/test_util.h"

namespace smbd {
namespace {

PagePool* Pool() {
  static PagePool* pool = testing_util::MakeTestPool(size_t{256} << 20).release();
  return pool;
}

std::vector<uint8_t> Message(size_t size) {
  std::vector<uint8_t> m(size);
  for (size_t i = 0; i < size; ++i) m[i] = static_cast<uint8_t>(i * 31 + 7);
  m[0] = 0xFE;
  m[1] = 'S';
  m[2] = 'M';
  m[3] = 'B';
  StoreLE<uint32_t>(m.data() + 16, 0);
  return m;
}

void BM_SignVerify(benchmark::State& state) {
  const auto alg = static_cast<SigningAlgorithm>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  auto signer = Signer::Create(alg, std::vector<uint8_t>(16, 0x11));
  auto q = testing_util::ToBvecq(Message(size), Pool());
  if (!signer.ok() || !q.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    if (!signer->Sign(q->begin()).ok() || !signer->Verify(q->begin()).ok()) {
      state.SkipWithError("sign/verify failed");
      break;
    }
  }
  // Bytes of messages signed and verified (each byte is MACed twice).
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.SetLabel(SigningAlgorithmName(alg));
}

void BM_Sign(benchmark::State& state) {
  const auto alg = static_cast<SigningAlgorithm>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  auto signer = Signer::Create(alg, std::vector<uint8_t>(16, 0x11));
  auto q = testing_util::ToBvecq(Message(size), Pool());
  if (!signer.ok() || !q.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    if (!signer->Sign(q->begin()).ok()) {
      state.SkipWithError("sign failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.SetLabel(SigningAlgorithmName(alg));
}

void BM_Seal(benchmark::State& state) {
  const auto cipher = static_cast<Cipher>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  auto sealer = Sealer::Create(cipher, std::vector<uint8_t>(CipherKeySize(cipher), 0x22), 1);
  auto q = testing_util::ToBvecq(Message(size), Pool());
  if (!sealer.ok() || !q.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    auto sealed = (*sealer)->Seal(*q, Pool());
    if (!sealed.ok()) {
      state.SkipWithError("seal failed");
      break;
    }
    benchmark::DoNotOptimize(sealed->size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.SetLabel(CipherName(cipher));
}

void BM_SealUnseal(benchmark::State& state) {
  const auto cipher = static_cast<Cipher>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  const std::vector<uint8_t> key(CipherKeySize(cipher), 0x22);
  auto sealer = Sealer::Create(cipher, key, 1);
  auto unsealer = Unsealer::Create(cipher, key);
  auto q = testing_util::ToBvecq(Message(size), Pool());
  if (!sealer.ok() || !unsealer.ok() || !q.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  for (auto _ : state) {
    auto sealed = (*sealer)->Seal(*q, Pool());
    if (!sealed.ok()) {
      state.SkipWithError("seal failed");
      break;
    }
    auto plain = (*unsealer)->Unseal(sealed->begin(), Pool(), 1);
    if (!plain.ok()) {
      state.SkipWithError("unseal failed");
      break;
    }
    benchmark::DoNotOptimize(plain->size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.SetLabel(CipherName(cipher));
}

void SigningArgs(benchmark::internal::Benchmark* b) {
  for (int alg : {0, 1, 2}) {
    for (int64_t size : {int64_t{64} << 10, int64_t{1} << 20}) b->Args({alg, size});
  }
}
void SealingArgs(benchmark::internal::Benchmark* b) {
  for (int cipher : {1, 2, 3, 4}) {
    for (int64_t size : {int64_t{64} << 10, int64_t{1} << 20}) b->Args({cipher, size});
  }
}

BENCHMARK(BM_Sign)->Apply(SigningArgs);
BENCHMARK(BM_SignVerify)->Apply(SigningArgs);
BENCHMARK(BM_Seal)->Apply(SealingArgs);
BENCHMARK(BM_SealUnseal)->Apply(SealingArgs);

}  // namespace
}  // namespace smbd
