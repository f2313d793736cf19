// Authentication proofs: the exact transcript and every way verifyProof must refuse.
#include "common/auth_proof.h"

#include <gtest/gtest.h>

#include <string>

#include "common/limits.h"

namespace rx {
namespace {

struct ProofFixture {
  std::string key = std::string(32, '\x42');
  std::string server_nonce = std::string(32, 's');
  std::string client_nonce = std::string(32, 'c');
  std::string key_id = "hmac-0123456789abcdef01234567";
  ProofInput input() const { return {server_nonce, client_nonce, key_id}; }
};

TEST(ProofLabels, Are22BytesOfNulTerminatedText) {
  EXPECT_EQ(kClientLabel.size(), 22u);
  EXPECT_EQ(kServerLabel.size(), 22u);
  EXPECT_EQ(kClientLabel, std::string_view("rexec v1 client proof\0", 22));
  EXPECT_EQ(kServerLabel, std::string_view("rexec v1 server proof\0", 22));
  EXPECT_EQ(kClientLabel.back(), '\0');
  EXPECT_EQ(kServerLabel.back(), '\0');
  EXPECT_NE(kClientLabel, kServerLabel);
}

TEST(ProofTranscript, ClientIsLabelServerNonceClientNonceKeyId) {
  const ProofFixture p;
  const std::string expected = std::string(kClientLabel) + p.server_nonce + p.client_nonce + p.key_id;
  EXPECT_EQ(proofTranscript(ProofRole::Client, p.input()), expected);
  EXPECT_EQ(proofTranscript(ProofRole::Client, p.input()).size(), 22u + 32u + 32u + p.key_id.size());
}

TEST(ProofTranscript, ServerIsLabelServerNonceClientNonceKeyId) {
  const ProofFixture p;
  const std::string expected = std::string(kServerLabel) + p.server_nonce + p.client_nonce + p.key_id;
  EXPECT_EQ(proofTranscript(ProofRole::Server, p.input()), expected);
}

TEST(ComputeProof, IsHmacOfTheTranscript) {
  const ProofFixture p;
  EXPECT_EQ(computeProof(ProofRole::Client, p.key, p.input()),
            hmacSha256(p.key, proofTranscript(ProofRole::Client, p.input())));
  EXPECT_EQ(computeProof(ProofRole::Client, p.key, p.input()).size(), kProofSize);
}

TEST(VerifyProof, AcceptsTheRightProof) {
  const ProofFixture p;
  EXPECT_TRUE(
      verifyProof(ProofRole::Client, p.key, p.input(), computeProof(ProofRole::Client, p.key, p.input())));
  EXPECT_TRUE(
      verifyProof(ProofRole::Server, p.key, p.input(), computeProof(ProofRole::Server, p.key, p.input())));
}

TEST(VerifyProof, RejectsAProofReflectedFromTheOtherRole) {
  const ProofFixture p;
  EXPECT_FALSE(
      verifyProof(ProofRole::Client, p.key, p.input(), computeProof(ProofRole::Server, p.key, p.input())));
  EXPECT_FALSE(
      verifyProof(ProofRole::Server, p.key, p.input(), computeProof(ProofRole::Client, p.key, p.input())));
}

TEST(VerifyProof, RejectsAProofWithOneBitFlipped) {
  const ProofFixture p;
  const std::string good = computeProof(ProofRole::Client, p.key, p.input());
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), bad))
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(VerifyProof, RejectsAProofOfTheWrongLength) {
  const ProofFixture p;
  const std::string good = computeProof(ProofRole::Client, p.key, p.input());
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), ""));
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), good.substr(0, 31)));
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), good.substr(0, 16)));
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), good + '\0'));
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), good + good));
}

TEST(VerifyProof, RejectsAProofMadeWithADifferentKey) {
  const ProofFixture p;
  const std::string other_key(32, '\x43');
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, other_key, p.input())));
}

TEST(VerifyProof, RejectsAProofForADifferentServerNonce) {
  const ProofFixture p;
  ProofFixture other;
  other.server_nonce[0] = 'S';
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, p.key, other.input())));
}

TEST(VerifyProof, RejectsAProofForADifferentClientNonce) {
  const ProofFixture p;
  ProofFixture other;
  other.client_nonce[31] = 'C';
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, p.key, other.input())));
}

TEST(VerifyProof, RejectsAProofWithTheNoncesSwapped) {
  const ProofFixture p;
  ProofFixture swapped;
  std::swap(swapped.server_nonce, swapped.client_nonce);
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, p.key, swapped.input())));
}

TEST(VerifyProof, RejectsAProofForADifferentKeyId) {
  const ProofFixture p;
  ProofFixture other;
  other.key_id = "hmac-0123456789abcdef01234568";
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, p.key, other.input())));
}

}  // namespace
}  // namespace rx
