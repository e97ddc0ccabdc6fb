#include "smb2/compound.h"

#include "gtest/gtest.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/write.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Flatten;

uint8_t kPaddingForTest[8] = {};

SmbMessageRef Request(Command c, uint64_t id) {
  SmbMessageRef m = SmbMessage::New();
  m->header.command = c;
  m->header.message_id = id;
  m->header.credit_charge = 1;
  m->header.session_id = 0x1234;
  m->header.tree_id = 7;
  return m;
}

// Encodes a body of `n` bytes of 0xAB (a stand-in for a command body of odd length).
void Body(WireWriter* w, size_t n) {
  for (size_t i = 0; i < n; ++i) w->U8(0xAB);
}

TEST(CompoundWriterTest, AlignsMembersAndChainsNextCommand) {
  auto pool = testing_util::TestPool();
  SmbMessageRef open = Request(Command::kCreate, 10);
  SmbMessageRef read = Request(Command::kRead, 11);
  SmbMessageRef close = Request(Command::kClose, 12);
  open->next = read;
  read->next = close;
  Bvecq& out = open->request;
  CompoundWriter cw(&out, pool.get());
  Body(cw.Begin(open.get(), false), 57 + 30);  // header + 87: needs 1 byte of padding
  cw.End();
  ReadRequest rr;
  rr.length = 4096;
  rr.file_id = FileId::Related();
  EncodeReadRequest(rr, cw.Begin(read.get(), true));
  cw.End();
  Body(cw.Begin(close.get(), true), 24);
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(cw.members(), 3);

  EXPECT_EQ(open->wire_offset, 0u);
  EXPECT_EQ(open->wire_length, 152u);  // 64 + 87 = 151, padded to 152
  EXPECT_EQ(read->wire_offset, 152u);
  EXPECT_EQ(read->wire_length, 64u + 49u + 7u);
  EXPECT_EQ(close->wire_offset, 152u + 120u);
  EXPECT_EQ(close->wire_length, 64u + 24u);  // the last member is not padded
  EXPECT_EQ(out.size(), 152u + 120u + 88u);

  std::vector<uint8_t> bytes = Flatten(out);
  EXPECT_EQ(LoadLE<uint32_t>(&bytes[hdr::kNextCommand]), 152u);
  EXPECT_EQ(LoadLE<uint32_t>(&bytes[152 + hdr::kNextCommand]), 120u);
  EXPECT_EQ(LoadLE<uint32_t>(&bytes[272 + hdr::kNextCommand]), 0u);
  EXPECT_EQ(LoadLE<uint32_t>(&bytes[hdr::kFlags]) & kFlagRelatedOperations, 0u);
  EXPECT_NE(LoadLE<uint32_t>(&bytes[152 + hdr::kFlags]) & kFlagRelatedOperations, 0u);
  EXPECT_NE(LoadLE<uint32_t>(&bytes[272 + hdr::kFlags]) & kFlagRelatedOperations, 0u);
  EXPECT_EQ(bytes[151], 0);  // padding is zero
  // The related READ carries the sentinel FileId ([MS-SMB2] 3.2.4.1.4).
  EXPECT_EQ(LoadLE<uint64_t>(&bytes[152 + 64 + 16]), kRelatedFileId);
  EXPECT_EQ(LoadLE<uint64_t>(&bytes[152 + 64 + 24]), kRelatedFileId);
  EXPECT_EQ(LoadLE<uint16_t>(&bytes[152 + hdr::kCommand]), 8);

  // The reader walks the same chain back.
  CompoundReader reader(out);
  int n = 0;
  uint64_t offsets[3];
  while (true) {
    auto m = reader.Next();
    ASSERT_TRUE(m.ok()) << m.status();
    if (!m->has_value()) break;
    offsets[n++] = (*m)->offset;
  }
  ASSERT_EQ(n, 3);
  EXPECT_EQ(offsets[1], 152u);
  EXPECT_EQ(offsets[2], 272u);
}

TEST(CompoundWriterTest, PayloadIsSplicedBetweenMembers) {
  auto pool = testing_util::TestPool();
  SmbMessageRef write = Request(Command::kWrite, 1);
  SmbMessageRef flush = Request(Command::kFlush, 2);
  std::vector<uint8_t> data(10001, 0x5A);
  Bvecq payload = testing_util::SplitQueue(pool.get(), data, {4000});
  WriteRequest wr;
  wr.length = 10001;
  CompoundWriter cw(&write->request, pool.get());
  ASSERT_TRUE(EncodeWriteRequest(wr, &payload, cw.Begin(write.get(), false)).ok());
  cw.End();
  Body(cw.Begin(flush.get(), true), 24);
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(write->wire_length, 64u + 48u + 10001u + 7u);
  EXPECT_EQ(flush->wire_offset % 8, 0u);
  std::vector<uint8_t> bytes = Flatten(write->request);
  EXPECT_EQ(LoadLE<uint32_t>(&bytes[hdr::kNextCommand]), write->wire_length);
  EXPECT_EQ(bytes[112], 0x5A);
  EXPECT_EQ(bytes[112 + 10000], 0x5A);
  EXPECT_EQ(bytes[112 + 10001], 0);  // padding
}

// Members encoded on their own and joined at submit give the frame CompoundWriter would have
// written, byte for byte; their bytes move into the head's queue without a copy.
TEST(JoinCompoundTest, JoinedMembersEqualOneWriterAndAreNotCopied) {
  auto pool = testing_util::TestPool();
  auto encode_one = [&](SmbMessage* m, size_t body) {
    CompoundWriter cw(&m->request, pool.get());
    Body(cw.Begin(m, false), body);
    cw.End();
    ASSERT_TRUE(cw.Finish().ok());
  };
  // One writer, for reference.
  SmbMessageRef a1 = Request(Command::kCreate, 10), b1 = Request(Command::kRead, 11),
                c1 = Request(Command::kClose, 12);
  a1->next = b1;
  b1->next = c1;
  {
    CompoundWriter cw(&a1->request, pool.get());
    Body(cw.Begin(a1.get(), false), 87);
    cw.End();
    Body(cw.Begin(b1.get(), true), 49);
    cw.End();
    Body(cw.Begin(c1.get(), true), 24);
    cw.End();
    ASSERT_TRUE(cw.Finish().ok());
  }
  // Each on its own, then joined.
  SmbMessageRef a2 = Request(Command::kCreate, 10), b2 = Request(Command::kRead, 11),
                c2 = Request(Command::kClose, 12);
  encode_one(a2.get(), 87);
  encode_one(b2.get(), 49);
  encode_one(c2.get(), 24);
  b2->header.flags |= kFlagRelatedOperations;
  c2->header.flags |= kFlagRelatedOperations;
  a2->next = b2;
  b2->next = c2;
  const uint8_t* read_bytes = b2->request.begin().Peek().data();
  ASSERT_TRUE(JoinCompound(a2.get()).ok());
  EXPECT_EQ(Flatten(a2->request), Flatten(a1->request));
  EXPECT_EQ(b2->wire_offset, b1->wire_offset);
  EXPECT_EQ(b2->wire_length, b1->wire_length);
  EXPECT_EQ(c2->wire_offset, c1->wire_offset);
  EXPECT_EQ(c2->wire_length, c1->wire_length);
  EXPECT_TRUE(b2->request.empty());  // moved into the head's queue
  auto at = a2->request.Range(b2->wire_offset, 1);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->Peek().data(), read_bytes);  // the same memory: spliced, not copied
  // Joining again (or a chain CompoundWriter built) changes nothing.
  ASSERT_TRUE(JoinCompound(a2.get()).ok());
  ASSERT_TRUE(JoinCompound(a1.get()).ok());
  EXPECT_EQ(Flatten(a2->request), Flatten(a1->request));
  // A member that is not an encoded message is refused.
  SmbMessageRef x = Request(Command::kCreate, 1), y = Request(Command::kClose, 2);
  encode_one(x.get(), 57);
  ASSERT_TRUE(y->request.AppendExternal(kPaddingForTest, 8).ok());
  x->next = y;
  EXPECT_EQ(JoinCompound(x.get()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CompoundWriterTest, MisuseIsReported) {
  auto pool = testing_util::TestPool();
  SmbMessageRef a = Request(Command::kEcho, 1);
  {
    Bvecq q;
    CompoundWriter cw(&q, pool.get());
    cw.Begin(a.get(), false);
    EXPECT_EQ(cw.Finish().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    Bvecq q;
    CompoundWriter cw(&q, pool.get());
    cw.End();
    EXPECT_EQ(cw.Finish().code(), absl::StatusCode::kFailedPrecondition);
  }
}

// Builds a response frame of members, each given as (status, body bytes, next_command override).
struct Member {
  uint32_t status;
  size_t body;
  int64_t next = -1;  // -1: computed
};

std::vector<uint8_t> ResponseFrame(const std::vector<Member>& members) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < members.size(); ++i) {
    const size_t start = out.size();
    Smb2Header h;
    h.command = Command::kRead;
    h.flags = kFlagServerToRedir | (i > 0 ? kFlagRelatedOperations : 0);
    h.status = members[i].status;
    h.message_id = 100 + i;
    uint8_t hb[64];
    WireWriter w(absl::MakeSpan(hb));
    EncodeHeader(h, &w);
    EXPECT_TRUE(w.Finish().ok());
    out.insert(out.end(), hb, hb + 64);
    out.resize(out.size() + members[i].body, 0x11);
    if (i + 1 < members.size()) out.resize((out.size() + 7) & ~size_t{7}, 0);
    uint32_t next = i + 1 < members.size() ? static_cast<uint32_t>(out.size() - start) : 0;
    if (members[i].next >= 0) next = static_cast<uint32_t>(members[i].next);
    testing_util::PutU32(&out, start + hdr::kNextCommand, next);
  }
  return out;
}

TEST(CompoundReaderTest, ErrorInTheMiddleCascades) {
  // open ok, read fails, close gets the cascaded error ([MS-SMB2] 3.3.5.2.7.2).
  auto pool = testing_util::TestPool();
  std::vector<uint8_t> frame = ResponseFrame({{ntstatus::kSuccess, 89},
                                              {ntstatus::kObjectNameNotFound, 9},
                                              {ntstatus::kObjectNameNotFound, 9}});
  Bvecq q = testing_util::SplitQueue(pool.get(), frame);
  CompoundReader reader(q);
  std::vector<uint32_t> statuses;
  std::vector<uint64_t> ids;
  while (true) {
    auto m = reader.Next();
    ASSERT_TRUE(m.ok()) << m.status();
    if (!m->has_value()) break;
    statuses.push_back((*m)->header.status);
    ids.push_back((*m)->header.message_id);
  }
  EXPECT_EQ(statuses, (std::vector<uint32_t>{ntstatus::kSuccess, ntstatus::kObjectNameNotFound,
                                             ntstatus::kObjectNameNotFound}));
  EXPECT_EQ(ids, (std::vector<uint64_t>{100, 101, 102}));
}

absl::Status WalkAll(const std::vector<uint8_t>& frame) {
  auto pool = testing_util::TestPool();
  Bvecq q = testing_util::SplitQueue(pool.get(), frame);
  CompoundReader reader(q);
  for (int i = 0; i < 10000; ++i) {
    auto m = reader.Next();
    if (!m.ok()) return m.status();
    if (!m->has_value()) return absl::OkStatus();
  }
  return absl::InternalError("reader did not terminate");
}

TEST(CompoundReaderTest, HostileNextCommandIsAnError) {
  EXPECT_TRUE(WalkAll(ResponseFrame({{0, 16}, {0, 16}})).ok());
  const std::pair<int64_t, const char*> bad[] = {
      {4, "below a header"}, {84, "unaligned"}, {4096, "past the end"}, {160, "exactly the end"}};
  for (const auto& [next, why] : bad) {
    std::vector<uint8_t> f = ResponseFrame({{0, 16, next}, {0, 16}});
    absl::Status s = WalkAll(f);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << why;
    EXPECT_NE(s.message().find("NextCommand"), absl::string_view::npos) << s;
  }
  // A NextCommand that lands inside the next member finds no header there.
  EXPECT_EQ(WalkAll(ResponseFrame({{0, 16, 88}, {0, 16}})).code(), absl::StatusCode::kDataLoss);
  // A chain whose NextCommand is 8 short of the end leaves a truncated header: an error too.
  std::vector<uint8_t> f = ResponseFrame({{0, 16}});
  f.resize(f.size() + 8, 0);
  testing_util::PutU32(&f, hdr::kNextCommand, 80);
  EXPECT_EQ(WalkAll(f).code(), absl::StatusCode::kDataLoss);
  // Truncated before the last header ends: an error, never a crash or a hang. (A cut inside the
  // last member's body leaves a short member, which that command's decoder rejects.)
  std::vector<uint8_t> full = ResponseFrame({{0, 17}, {0, 9}, {0, 9}});
  const size_t last_header_end = 88 + 80 + 64;
  for (size_t len = 1; len < full.size(); ++len) {
    std::vector<uint8_t> t(full.begin(), full.begin() + len);
    absl::Status s = WalkAll(t);
    if (len < last_header_end) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << len;
    } else {
      EXPECT_TRUE(s.ok()) << len << ": " << s;
    }
  }
}

TEST(CompoundReaderTest, EmptyFrameHasNoMembers) {
  Bvecq q;
  CompoundReader reader(q);
  auto m = reader.Next();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
}

}  // namespace
}  // namespace smbd
