// Heap allocations per steady-state request on a sealed session ([MS-SMB2] 3.1.4.3): READ and
// WRITE requests go through Connection::Submit -> SessionCrypto::Seal -> TcpTransport, a peer
// thread unseals them and answers sealed, and the receive thread unseals the answers (READ data
// decrypted straight into the caller's buffer) and completes them. Counted: operator new and
// OpenSSL's own allocations (CRYPTO_set_mem_functions) on the client's threads; the peer's
// allocations are left out (UncountedAllocations). Every cipher, since CCM and GCM keep
// different OpenSSL contexts.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "buffers/alloc_counter.h"
#include "buffers/alloc_scope.h"
#include "buffers/wire.h"
#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/connection.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/write.h"
#include "smb2/security/sealing.h"
#include "smb2/security/session_crypto.h"
#include "smb2/tcp_transport.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

std::atomic<uint64_t> g_openssl_allocations{0};

void* CountingMalloc(size_t n, const char*, int) {
  if (AllocationsCountedOnThisThread()) g_openssl_allocations++;
  return malloc(n);
}
void* CountingRealloc(void* p, size_t n, const char*, int) {
  if (AllocationsCountedOnThisThread()) g_openssl_allocations++;
  return realloc(p, n);
}
void CountingFree(void* p, const char*, int) { free(p); }

// Before anything in the process asks OpenSSL for memory.
const bool g_hooked = CRYPTO_set_mem_functions(CountingMalloc, CountingRealloc, CountingFree);

constexpr uint64_t kSession = 0x1122334455667788;
const uint8_t kC2S[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
const uint8_t kS2C[32] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                          16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

uint8_t DataByte(uint64_t i) { return static_cast<uint8_t>(i * 7 + 3); }

// The server side: unseals each request, answers READ with DataByte() data and WRITE with its
// count, sealed.
void Serve(TcpTransport* t, Cipher cipher, PagePool* pool) {
  UncountedAllocations uncounted;
  size_t key_size = (cipher == Cipher::kAes256Gcm || cipher == Cipher::kAes256Ccm) ? 32 : 16;
  auto sealer = Sealer::Create(cipher, absl::MakeConstSpan(kS2C, key_size), kSession).value();
  auto unsealer = Unsealer::Create(cipher, absl::MakeConstSpan(kC2S, key_size)).value();
  while (true) {
    absl::StatusOr<Bvecq> f = t->Receive(absl::Seconds(30));
    if (!f.ok()) return;
    absl::StatusOr<Bvecq> plain = unsealer->Unseal(f->begin(), pool, kSession);
    if (!plain.ok()) {
      ADD_FAILURE() << plain.status();
      return;
    }
    WireReader r(plain->begin());
    absl::StatusOr<Smb2Header> req = DecodeHeader(&r);
    ASSERT_TRUE(req.ok()) << req.status();
    Smb2Header h = *req;
    h.flags = kFlagServerToRedir;
    h.credits = 1;
    h.status = 0;
    Bvecq answer;
    WireWriter w(&answer, pool);
    EncodeHeader(h, &w);
    if (h.command == Command::kRead) {
      uint16_t structure;
      uint8_t padding, flags;
      uint32_t length;
      ASSERT_TRUE(r.U16(&structure) && r.U8(&padding) && r.U8(&flags) && r.U32(&length));
      w.U16(17);
      w.U8(0x50);
      w.U8(0);
      w.U32(length);
      w.U32(0);
      w.U32(0);
      for (uint32_t i = 0; i < length; ++i) w.U8(DataByte(i));
    } else {
      uint16_t structure, offset;
      uint32_t length;
      ASSERT_TRUE(r.U16(&structure) && r.U16(&offset) && r.U32(&length));
      w.U16(17);
      w.U16(0);
      w.U32(length);
      w.U32(0);
      w.U16(0);
      w.U16(0);
    }
    ASSERT_TRUE(w.Finish().ok());
    absl::StatusOr<Bvecq> sealed = sealer->Seal(answer, pool);
    ASSERT_TRUE(sealed.ok());
    if (!t->Send(*sealed).ok()) return;
  }
}

TEST(SealedNoAllocCounterTest, SeesOpenSslAllocations) {
  ASSERT_TRUE(g_hooked);
  const uint64_t before = g_openssl_allocations.load();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_GT(g_openssl_allocations.load(), before);  // a context per message would show
}

class SealedNoAllocTest : public ::testing::TestWithParam<Cipher> {};

TEST_P(SealedNoAllocTest, SteadyStateReadsAndWritesAllocateNothing) {
  ASSERT_TRUE(g_hooked) << "OpenSSL allocated before the counter was installed";
  const Cipher cipher = GetParam();
  const size_t key_size =
      (cipher == Cipher::kAes256Gcm || cipher == Cipher::kAes256Ccm) ? 32 : 16;
  auto pool = testing_util::TestPool();
  auto server_pool = testing_util::TestPool();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto server = TcpTransport::FromSocket(sv[1], server_pool.get());
  std::thread peer([&] { Serve(server.get(), cipher, server_pool.get()); });
  {
    ConnectionOptions o;
    auto conn = Connection::Create(TcpTransport::FromSocket(sv[0], pool.get()), pool.get(), o)
                    .value();
    auto crypto = std::make_shared<SessionCrypto>(
        kSession, std::nullopt,
        Sealer::Create(cipher, absl::MakeConstSpan(kC2S, key_size), kSession).value(),
        Unsealer::Create(cipher, absl::MakeConstSpan(kS2C, key_size)).value(),
        /*sign=*/false, /*seal=*/true, /*always_signed_commands=*/0);
    conn->SetSessionSecurity(kSession, crypto);

    constexpr uint32_t kLength = 8192;
    std::vector<uint8_t> dst(kLength);
    std::vector<uint8_t> src(kLength, 0x42);
    auto read = [&]() {
      SmbMessageRef m = SmbMessage::New();
      m->header.command = Command::kRead;
      m->header.credit_charge = 1;
      m->header.session_id = kSession;
      m->expected_response_bytes = kLength;
      CompoundWriter cw(&m->request, pool.get());
      ReadRequest req;
      req.length = kLength;
      EncodeReadRequest(req, cw.Begin(m.get(), false));
      cw.End();
      EXPECT_TRUE(cw.Finish().ok());
      m->read_destination = absl::MakeSpan(dst);
      EXPECT_TRUE(conn->Submit(m).ok());
      EXPECT_TRUE(m->Wait(absl::Seconds(10)).ok());
      EXPECT_TRUE(m->result().ok()) << m->result();
      EXPECT_EQ(m->response_header.status, 0u);
    };
    auto write = [&]() {
      SmbMessageRef m = SmbMessage::New();
      m->header.command = Command::kWrite;
      m->header.credit_charge = 1;
      m->header.session_id = kSession;
      CompoundWriter cw(&m->request, pool.get());
      WriteRequest req;
      req.length = kLength;
      Bvecq payload;
      EXPECT_TRUE(payload.AppendExternal(src.data(), src.size()).ok());
      EXPECT_TRUE(EncodeWriteRequest(req, &payload, cw.Begin(m.get(), false)).ok());
      cw.End();
      EXPECT_TRUE(cw.Finish().ok());
      EXPECT_TRUE(conn->Submit(m).ok());
      EXPECT_TRUE(m->Wait(absl::Seconds(10)).ok());
      EXPECT_TRUE(m->result().ok()) << m->result();
    };
    for (int i = 0; i < 64; ++i) {
      read();
      write();
    }
    for (uint32_t i = 0; i < kLength; ++i) ASSERT_EQ(dst[i], DataByte(i)) << i;

    constexpr int kRequests = 300;
    const uint64_t pages_before = pool->stats().allocations;
    const uint64_t heap_before = HeapAllocations();
    const uint64_t openssl_before = g_openssl_allocations.load();
    for (int i = 0; i < kRequests; ++i) read();
    const uint64_t read_heap = HeapAllocations() - heap_before;
    const uint64_t read_openssl = g_openssl_allocations.load() - openssl_before;
    for (int i = 0; i < kRequests; ++i) write();
    const uint64_t write_heap = HeapAllocations() - heap_before - read_heap;
    const uint64_t write_openssl = g_openssl_allocations.load() - openssl_before - read_openssl;
    // Pool pages the client took (sealing, unsealing, encoding), per request (BENCHMARKS 2d).
    const double pages = 1.0 * (pool->stats().allocations - pages_before) / (2 * kRequests);
    printf("%s sealed: %.2f pool pages per 8 KiB request\n", CipherName(cipher), pages);
    printf("%s sealed: per read %.3f heap + %.3f OpenSSL allocations, per write %.3f + %.3f\n",
           CipherName(cipher), 1.0 * read_heap / kRequests, 1.0 * read_openssl / kRequests,
           1.0 * write_heap / kRequests, 1.0 * write_openssl / kRequests);
    EXPECT_EQ(read_heap, 0u);
    EXPECT_EQ(read_openssl, 0u);
    EXPECT_EQ(write_heap, 0u);
    EXPECT_EQ(write_openssl, 0u);
    // Every READ's data was decrypted straight into dst.
    EXPECT_EQ(conn->stats().sealed_bytes_placed, (64 + kRequests) * uint64_t{kLength});
  }  // the connection closes: the peer's Receive fails
  peer.join();
}

INSTANTIATE_TEST_SUITE_P(Ciphers, SealedNoAllocTest,
                         ::testing::Values(Cipher::kAes128Gcm, Cipher::kAes256Gcm,
                                           Cipher::kAes128Ccm, Cipher::kAes256Ccm),
                         [](const auto& info) {
                           std::string name = CipherName(info.param);
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace smbd
