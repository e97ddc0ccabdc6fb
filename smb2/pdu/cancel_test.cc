#include "smb2/pdu/cancel.h"

#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/message.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::ToHex;

// smbclient sends no CANCEL (tests/golden/README.md); built by hand from [MS-SMB2] 2.2.1.2 and
// 2.2.30: the async header of the request it cancels (ASYNC flag, MessageId 12, AsyncId 0xC,
// CreditCharge 0, CreditRequest 0) and the body StructureSize 4 (0400), Reserved (0000).
TEST(CancelTest, EncodesAsyncCancel) {
  auto pool = testing_util::TestPool();
  SmbMessageRef m = SmbMessage::New();
  m->header.command = Command::kCancel;
  m->header.flags = kFlagAsyncCommand;
  m->header.message_id = 12;
  m->header.async_id = 0xC;
  m->header.session_id = 0xF8AEC0F5;
  CompoundWriter cw(&m->request, pool.get());
  EncodeCancelRequest(cw.Begin(m.get(), false));
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(ToHex(testing_util::Flatten(m->request)),
            "fe534d4240000000000000000c00000002000000000000000c00000000000000"
            "0c00000000000000f5c0aef8000000000000000000000000000000000000000004000000");
}

}  // namespace
}  // namespace smbd
