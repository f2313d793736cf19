// hmacSha256 against RFC 4231, sha256 against FIPS 180-2, and randomBytes.
#include <gtest/gtest.h>

#include <string>

#include "common/auth_proof.h"
#include "common/encoding.h"

namespace rx {
namespace {

std::string repeat(char byte, size_t n) { return std::string(n, byte); }

std::string hmacHex(const std::string& key, const std::string& data) { return toHex(hmacSha256(key, data)); }

// RFC 4231 section 4.2.
TEST(HmacSha256, Rfc4231Case1) {
  EXPECT_EQ(hmacHex(repeat('\x0b', 20), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231 section 4.3: a key shorter than the output.
TEST(HmacSha256, Rfc4231Case2) {
  EXPECT_EQ(hmacHex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 4231 section 4.4.
TEST(HmacSha256, Rfc4231Case3) {
  EXPECT_EQ(hmacHex(repeat('\xaa', 20), repeat('\xdd', 50)),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

// RFC 4231 section 4.5.
TEST(HmacSha256, Rfc4231Case4) {
  std::string key;
  for (int i = 1; i <= 25; ++i) key.push_back(static_cast<char>(i));
  EXPECT_EQ(hmacHex(key, repeat('\xcd', 50)),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

// RFC 4231 section 4.6: the RFC gives only the first 128 bits.
TEST(HmacSha256, Rfc4231Case5Truncated) {
  const std::string mac = hmacSha256(repeat('\x0c', 20), "Test With Truncation");
  ASSERT_EQ(mac.size(), 32u);
  EXPECT_EQ(toHex(mac.substr(0, 16)), "a3b6167473100ee06e0c796c2955552b");
}

// RFC 4231 section 4.7: a key larger than the block size.
TEST(HmacSha256, Rfc4231Case6) {
  EXPECT_EQ(hmacHex(repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// RFC 4231 section 4.8: key and data larger than the block size.
TEST(HmacSha256, Rfc4231Case7) {
  EXPECT_EQ(hmacHex(repeat('\xaa', 131),
                    "This is a test using a larger than block-size key and a larger than block-size data. "
                    "The key needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256, OutputIs32Bytes) { EXPECT_EQ(hmacSha256("", "").size(), 32u); }

TEST(Sha256, Abc) {
  EXPECT_EQ(toHex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(toHex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(RandomBytes, HasTheRequestedLength) {
  EXPECT_EQ(randomBytes(0).size(), 0u);
  EXPECT_EQ(randomBytes(1).size(), 1u);
  EXPECT_EQ(randomBytes(32).size(), 32u);
  EXPECT_EQ(randomBytes(1000).size(), 1000u);
}

TEST(RandomBytes, TwoCallsDiffer) { EXPECT_NE(randomBytes(32), randomBytes(32)); }

}  // namespace
}  // namespace rx
