#include "absl/status/status.h"
#include "gtest/gtest.h"
#include <openssl/evp.h>
TEST(Toolchain, Links) {
  EXPECT_FALSE(absl::InvalidArgumentError("x").ok());
  EXPECT_NE(EVP_sha256(), nullptr);
}
