// The C API's answers to misuse that needs no server (tests/samba:capi_samba_test covers the
// rest against Samba): NULL, foreign and closed handles, bad arguments, and a connection that
// cannot be made. Each gets its status and a message, never a crash.
#include "smbd/smbd.h"

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace {

TEST(CApiTest, VersionMatchesTheHeader) {
  EXPECT_STREQ(smbd_version(), SMBD_VERSION_STRING);
  EXPECT_STREQ(smbd_status_name(SMBD_ENOENT), "SMBD_ENOENT");
}

TEST(CApiTest, NullAndForeignHandlesAreRefused) {
  smbd_error err;
  int not_a_handle = 0;
  auto* foreign_client = reinterpret_cast<smbd_client*>(&not_a_handle);
  auto* foreign_file = reinterpret_cast<smbd_file*>(&not_a_handle);
  for (smbd_client* c : {static_cast<smbd_client*>(nullptr), foreign_client}) {
    EXPECT_EQ(smbd_disconnect(c, &err), SMBD_EBADHANDLE);
    EXPECT_NE(std::strstr(err.message, "handle"), nullptr) << err.message;
    smbd_file* f = reinterpret_cast<smbd_file*>(1);
    EXPECT_EQ(smbd_open(c, "x", SMBD_O_READ, &f, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(f, nullptr);
    smbd_stat_t st;
    EXPECT_EQ(smbd_stat(c, "x", &st, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(smbd_mkdir(c, "x", &err), SMBD_EBADHANDLE);
    EXPECT_EQ(smbd_cancel(c, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(smbd_client_transport(c), nullptr);
    EXPECT_EQ(smbd_client_rdma_note(c), nullptr);
    char mem[64];
    smbd_buffer* b = reinterpret_cast<smbd_buffer*>(1);
    EXPECT_EQ(smbd_register_buffer(c, mem, sizeof(mem), &b, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(b, nullptr);
  }
  EXPECT_EQ(smbd_unregister_buffer(nullptr, &err), SMBD_EBADHANDLE);
  EXPECT_EQ(smbd_unregister_buffer(reinterpret_cast<smbd_buffer*>(&not_a_handle), &err),
            SMBD_EBADHANDLE);
  for (smbd_file* f : {static_cast<smbd_file*>(nullptr), foreign_file}) {
    char buf[16];
    size_t done = 99;
    EXPECT_EQ(smbd_read(f, 0, buf, sizeof(buf), &done, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(done, 0u);
    EXPECT_EQ(smbd_write(f, 0, buf, sizeof(buf), &err), SMBD_EBADHANDLE);
    EXPECT_EQ(smbd_close(f, &err), SMBD_EBADHANDLE);
    EXPECT_EQ(smbd_flush(f, nullptr), SMBD_EBADHANDLE);  // err may be NULL
    EXPECT_EQ(smbd_max_read(f), 0u);
  }
}

TEST(CApiTest, BadArgumentsAreRefusedBeforeAnythingIsSent) {
  smbd_error err;
  smbd_client* c = nullptr;
  EXPECT_EQ(smbd_connect(nullptr, nullptr, &c, &err), SMBD_EINVAL);
  EXPECT_EQ(smbd_connect("smb://u@h/s", nullptr, nullptr, &err), SMBD_EINVAL);
  EXPECT_EQ(smbd_connect("not a url", nullptr, &c, &err), SMBD_EINVAL);
  EXPECT_EQ(smbd_connect("smb://u@127.0.0.1", nullptr, &c, &err), SMBD_EINVAL);  // no share
  EXPECT_NE(std::strstr(err.message, "share"), nullptr) << err.message;
  smbd_options o;
  smbd_options_init(&o);
  o.cipher = "rot13";
  EXPECT_EQ(smbd_connect("smb://u@127.0.0.1/s", &o, &c, &err), SMBD_EINVAL);
  EXPECT_NE(std::strstr(err.message, "rot13"), nullptr) << err.message;
  EXPECT_EQ(c, nullptr);
}

TEST(CApiTest, APasswordInTheUrlStaysOutOfTheMessage) {
  smbd_error err;
  smbd_client* c = nullptr;
  EXPECT_EQ(smbd_connect("smb://user:Sekr1t@[::1/share", nullptr, &c, &err), SMBD_EINVAL);
  EXPECT_EQ(std::string(err.message).find("Sekr1t"), std::string::npos) << err.message;
}

TEST(CApiTest, NoServerIsUnavailableWithinTheTimeout) {
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.anonymous = 1;
  o.timeout_ms = 2000;
  smbd_error err;
  smbd_client* c = nullptr;
  // Port 1 on loopback: nothing listens there.
  EXPECT_EQ(smbd_connect("smb://127.0.0.1:1/share", &o, &c, &err), SMBD_EUNAVAILABLE)
      << smbd_status_name(err.status) << ": " << err.message;
  EXPECT_EQ(c, nullptr);
}

}  // namespace
