// Authentication proofs: the exact transcript, every way verifyProof and checkClientProof must
// refuse, the channel binding (relay defence), and Ed25519 against RFC 8032.
#include "common/auth_proof.h"

#include <gtest/gtest.h>

#include <string>

#include "common/encoding.h"
#include "common/key_file.h"
#include "common/limits.h"

namespace rx {
namespace {

std::string fromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string flipBit(std::string s, size_t byte, int bit) {
  s[byte] = static_cast<char>(s[byte] ^ (1 << bit));
  return s;
}

// What the daemon would hold for `key` (the same as parsing its authorized line).
AuthorizedKey authorizedFor(const ClientKey& key) {
  AuthorizedKey ak;
  ak.type = key.type;
  ak.key_id = key.key_id;
  ak.material = key.type == KeyType::Ed25519 ? key.public_key : key.secret;
  ak.comment = key.comment;
  return ak;
}

struct ProofFixture {
  std::string key = std::string(32, '\x42');
  std::string server_nonce = std::string(32, 's');
  std::string client_nonce = std::string(32, 'c');
  std::string channel_binding = std::string(32, 'b');
  std::string key_id = "hmac-0123456789abcdef01234567";
  ProofInput input() const { return {server_nonce, client_nonce, channel_binding, key_id}; }
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

TEST(ProofTranscript, ClientIsLabelServerNonceClientNonceChannelBindingKeyId) {
  const ProofFixture p;
  const std::string expected =
      std::string(kClientLabel) + p.server_nonce + p.client_nonce + p.channel_binding + p.key_id;
  EXPECT_EQ(proofTranscript(ProofRole::Client, p.input()), expected);
  EXPECT_EQ(proofTranscript(ProofRole::Client, p.input()).size(), 22u + 32u + 32u + 32u + p.key_id.size());
}

TEST(ProofTranscript, ServerIsLabelServerNonceClientNonceChannelBindingKeyId) {
  const ProofFixture p;
  const std::string expected =
      std::string(kServerLabel) + p.server_nonce + p.client_nonce + p.channel_binding + p.key_id;
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
      EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(), flipBit(good, byte, bit)))
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

TEST(VerifyProof, RejectsAProofForADifferentChannelBinding) {
  const ProofFixture p;
  ProofFixture other;
  other.channel_binding[17] = 'B';
  EXPECT_FALSE(verifyProof(ProofRole::Client, p.key, p.input(),
                           computeProof(ProofRole::Client, p.key, other.input())));
  EXPECT_FALSE(verifyProof(ProofRole::Server, p.key, p.input(),
                           computeProof(ProofRole::Server, p.key, other.input())));
}

// --- Ed25519 against RFC 8032, section 7.1 ---

struct Rfc8032Vector {
  const char* name;
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

const Rfc8032Vector kRfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST(Ed25519, Rfc8032PublicKeys) {
  for (const auto& v : kRfc8032) {
    EXPECT_EQ(toHex(ed25519PublicKey(fromHex(v.secret))), v.public_key) << v.name;
  }
}

TEST(Ed25519, Rfc8032SignaturesAreExactAndDeterministic) {
  for (const auto& v : kRfc8032) {
    const std::string seed = fromHex(v.secret);
    const std::string message = fromHex(v.message);
    const std::string sig = ed25519Sign(seed, message);
    EXPECT_EQ(sig.size(), 64u) << v.name;
    EXPECT_EQ(toHex(sig), v.signature) << v.name;
    EXPECT_EQ(ed25519Sign(seed, message), sig) << v.name;
    // With the public key given (the client's path), the very same signature.
    EXPECT_EQ(toHex(ed25519Sign(ed25519SigningKey(seed).get(), message)), v.signature) << v.name;
  }
}

TEST(Ed25519, Rfc8032MessageLengths) {
  EXPECT_EQ(fromHex(kRfc8032[0].message), "");
  EXPECT_EQ(fromHex(kRfc8032[1].message), std::string(1, '\x72'));
}

TEST(Ed25519, VerifyAcceptsTheRfc8032Signatures) {
  for (const auto& v : kRfc8032) {
    EXPECT_TRUE(ed25519Verify(fromHex(v.public_key), fromHex(v.message), fromHex(v.signature))) << v.name;
  }
}

TEST(Ed25519, VerifyRejectsAFlippedBitInTheMessage) {
  // TEST 2: the one-byte message.
  const Rfc8032Vector& v = kRfc8032[1];
  const std::string pub = fromHex(v.public_key);
  const std::string sig = fromHex(v.signature);
  const std::string message = fromHex(v.message);
  for (int bit = 0; bit < 8; ++bit) {
    EXPECT_FALSE(ed25519Verify(pub, flipBit(message, 0, bit), sig)) << "bit " << bit;
  }
  // TEST 1: anything but the empty message.
  EXPECT_FALSE(
      ed25519Verify(fromHex(kRfc8032[0].public_key), std::string(1, '\0'), fromHex(kRfc8032[0].signature)));
  EXPECT_FALSE(ed25519Verify(pub, message + '\0', sig));
}

TEST(Ed25519, VerifyRejectsAFlippedBitInTheSignature) {
  for (const auto& v : kRfc8032) {
    const std::string pub = fromHex(v.public_key);
    const std::string message = fromHex(v.message);
    const std::string sig = fromHex(v.signature);
    for (size_t byte = 0; byte < sig.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        EXPECT_FALSE(ed25519Verify(pub, message, flipBit(sig, byte, bit)))
            << v.name << " byte " << byte << " bit " << bit;
      }
    }
  }
}

TEST(Ed25519, VerifyRejectsAFlippedBitInTheKey) {
  for (const auto& v : kRfc8032) {
    const std::string pub = fromHex(v.public_key);
    const std::string message = fromHex(v.message);
    const std::string sig = fromHex(v.signature);
    for (size_t byte = 0; byte < pub.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        EXPECT_FALSE(ed25519Verify(flipBit(pub, byte, bit), message, sig))
            << v.name << " byte " << byte << " bit " << bit;
      }
    }
  }
}

TEST(Ed25519, VerifyRejectsTheOtherVectorsKey) {
  EXPECT_FALSE(ed25519Verify(fromHex(kRfc8032[1].public_key), fromHex(kRfc8032[0].message),
                             fromHex(kRfc8032[0].signature)));
  EXPECT_FALSE(ed25519Verify(fromHex(kRfc8032[0].public_key), fromHex(kRfc8032[1].message),
                             fromHex(kRfc8032[1].signature)));
}

TEST(Ed25519, VerifyRejectsAWrongLengthSignature) {
  const Rfc8032Vector& v = kRfc8032[1];
  const std::string pub = fromHex(v.public_key);
  const std::string message = fromHex(v.message);
  const std::string sig = fromHex(v.signature);
  EXPECT_FALSE(ed25519Verify(pub, message, ""));
  EXPECT_FALSE(ed25519Verify(pub, message, sig.substr(0, 63)));
  EXPECT_FALSE(ed25519Verify(pub, message, sig.substr(0, 32)));
  EXPECT_FALSE(ed25519Verify(pub, message, sig + '\0'));
  EXPECT_FALSE(ed25519Verify(pub, message, sig + sig));
}

TEST(Ed25519, VerifyRejectsAWrongLengthKey) {
  const Rfc8032Vector& v = kRfc8032[1];
  const std::string pub = fromHex(v.public_key);
  const std::string message = fromHex(v.message);
  const std::string sig = fromHex(v.signature);
  EXPECT_FALSE(ed25519Verify("", message, sig));
  EXPECT_FALSE(ed25519Verify(pub.substr(0, 31), message, sig));
  EXPECT_FALSE(ed25519Verify(pub + '\0', message, sig));
  EXPECT_FALSE(ed25519Verify(pub + pub, message, sig));
}

TEST(Ed25519, SignVerifyRoundTripWithAGeneratedKey) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  ASSERT_EQ(key.public_key.size(), 32u);
  EXPECT_EQ(ed25519PublicKey(key.secret), key.public_key);
  const std::string sig = ed25519Sign(key.secret, "some message");
  EXPECT_TRUE(ed25519Verify(key.public_key, "some message", sig));
  EXPECT_FALSE(ed25519Verify(key.public_key, "some messagf", sig));
}

// --- clientProof / checkClientProof / serverProof / checkServerProof ---

struct KeyProofFixture {
  explicit KeyProofFixture(KeyType type)
      : key(generateKey(type, "proof test")), authorized(authorizedFor(key)) {}
  ClientKey key;
  AuthorizedKey authorized;
  std::string server_nonce = randomBytes(kNonceSize);
  std::string client_nonce = randomBytes(kNonceSize);
  std::string binding_a = std::string(32, 'A');
  std::string binding_b = std::string(32, 'B');
  ProofInput input(const std::string& binding) const {
    return {server_nonce, client_nonce, binding, key.key_id};
  }
};

class KeyProofTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyProofTest, ClientProofIsAccepted) {
  const KeyProofFixture f(GetParam());
  const std::string proof = clientProof(f.key, f.input(f.binding_a));
  EXPECT_EQ(proof.size(), GetParam() == KeyType::Ed25519 ? 64u : kProofSize);
  EXPECT_TRUE(checkClientProof(f.authorized, f.input(f.binding_a), proof));
}

TEST_P(KeyProofTest, ClientProofForAnotherChannelBindingIsRefused) {
  // A proof relayed from connection A onto connection B is worthless.
  const KeyProofFixture f(GetParam());
  const std::string proof = clientProof(f.key, f.input(f.binding_a));
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_b), proof));
  // One bit of difference is enough.
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(flipBit(f.binding_a, 31, 0)), proof));
  // So is no binding at all.
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(""), proof));
}

TEST_P(KeyProofTest, ClientProofForAnotherNonceOrKeyIdIsRefused) {
  const KeyProofFixture f(GetParam());
  const std::string proof = clientProof(f.key, f.input(f.binding_a));
  const std::string other_nonce = randomBytes(kNonceSize);
  EXPECT_FALSE(
      checkClientProof(f.authorized, {other_nonce, f.client_nonce, f.binding_a, f.key.key_id}, proof));
  EXPECT_FALSE(
      checkClientProof(f.authorized, {f.server_nonce, other_nonce, f.binding_a, f.key.key_id}, proof));
  EXPECT_FALSE(checkClientProof(f.authorized, {f.server_nonce, f.client_nonce, f.binding_a, "other"}, proof));
}

TEST_P(KeyProofTest, ClientProofWithABitFlippedIsRefused) {
  const KeyProofFixture f(GetParam());
  const std::string proof = clientProof(f.key, f.input(f.binding_a));
  for (size_t byte = 0; byte < proof.size(); ++byte) {
    EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), flipBit(proof, byte, byte % 8)))
        << "byte " << byte;
  }
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), ""));
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), proof + '\0'));
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), proof.substr(1)));
}

TEST_P(KeyProofTest, ClientProofFromAnotherKeyOfTheSameTypeIsRefused) {
  const KeyProofFixture f(GetParam());
  ClientKey other = generateKey(GetParam(), "other");
  other.key_id = f.key.key_id;  // claims our id
  EXPECT_FALSE(
      checkClientProof(f.authorized, f.input(f.binding_a), clientProof(other, f.input(f.binding_a))));
}

TEST_P(KeyProofTest, ServerProofIsAcceptedByTheClient) {
  const KeyProofFixture f(GetParam());
  const std::string proof = serverProof(f.authorized, f.input(f.binding_a));
  EXPECT_TRUE(checkServerProof(f.key, f.input(f.binding_a), proof));
}

INSTANTIATE_TEST_SUITE_P(BothKeyTypes, KeyProofTest, ::testing::Values(KeyType::Ed25519, KeyType::HmacSha256),
                         [](const ::testing::TestParamInfo<KeyType>& param_info) {
                           return param_info.param == KeyType::Ed25519 ? std::string("Ed25519")
                                                                       : std::string("HmacSha256");
                         });

TEST(Ed25519Proof, IsASignatureOfTheClientTranscript) {
  const KeyProofFixture f(KeyType::Ed25519);
  const std::string proof = clientProof(f.key, f.input(f.binding_a));
  EXPECT_EQ(proof, ed25519Sign(f.key.secret, proofTranscript(ProofRole::Client, f.input(f.binding_a))));
  EXPECT_TRUE(
      ed25519Verify(f.key.public_key, proofTranscript(ProofRole::Client, f.input(f.binding_a)), proof));
  // Not a signature of the server transcript.
  EXPECT_FALSE(
      ed25519Verify(f.key.public_key, proofTranscript(ProofRole::Server, f.input(f.binding_a)), proof));
}

TEST(Ed25519Proof, SignatureOverTheServerTranscriptIsRefused) {
  const KeyProofFixture f(KeyType::Ed25519);
  const std::string reflected =
      ed25519Sign(f.key.secret, proofTranscript(ProofRole::Server, f.input(f.binding_a)));
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), reflected));
}

TEST(Ed25519Proof, ServerSendsNoProofAndTheClientAcceptsOnlyNone) {
  const KeyProofFixture f(KeyType::Ed25519);
  EXPECT_TRUE(serverProof(f.authorized, f.input(f.binding_a)).empty());
  EXPECT_TRUE(checkServerProof(f.key, f.input(f.binding_a), ""));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), std::string(32, '\0')));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), "x"));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), clientProof(f.key, f.input(f.binding_a))));
  // Not even a "valid" HMAC over the server transcript keyed with the seed.
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a),
                                computeProof(ProofRole::Server, f.key.secret, f.input(f.binding_a))));
}

TEST(HmacProof, IsTheHmacPrimitiveOverTheTranscript) {
  const KeyProofFixture f(KeyType::HmacSha256);
  EXPECT_EQ(clientProof(f.key, f.input(f.binding_a)),
            computeProof(ProofRole::Client, f.key.secret, f.input(f.binding_a)));
  EXPECT_EQ(serverProof(f.authorized, f.input(f.binding_a)),
            computeProof(ProofRole::Server, f.key.secret, f.input(f.binding_a)));
}

TEST(HmacProof, ReflectedServerProofIsRefusedAsAClientProof) {
  const KeyProofFixture f(KeyType::HmacSha256);
  const std::string server = serverProof(f.authorized, f.input(f.binding_a));
  ASSERT_EQ(server.size(), kProofSize);
  EXPECT_FALSE(checkClientProof(f.authorized, f.input(f.binding_a), server));
}

TEST(HmacProof, ReflectedClientProofIsRefusedAsAServerProof) {
  const KeyProofFixture f(KeyType::HmacSha256);
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), clientProof(f.key, f.input(f.binding_a))));
}

TEST(HmacProof, ServerProofIsBoundToTheChannel) {
  const KeyProofFixture f(KeyType::HmacSha256);
  const std::string proof = serverProof(f.authorized, f.input(f.binding_a));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_b), proof));
}

TEST(HmacProof, ServerProofMustBePresentAndExact) {
  const KeyProofFixture f(KeyType::HmacSha256);
  const std::string proof = serverProof(f.authorized, f.input(f.binding_a));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), ""));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), flipBit(proof, 0, 0)));
  EXPECT_FALSE(checkServerProof(f.key, f.input(f.binding_a), proof.substr(0, 31)));
}

TEST(KeyTypeConfusion, ProofForOneTypeIsRefusedByAKeyOfTheOther) {
  const KeyProofFixture ed(KeyType::Ed25519);
  const KeyProofFixture hmac(KeyType::HmacSha256);
  // An HMAC-shaped proof is no Ed25519 signature, and a signature is no HMAC.
  EXPECT_FALSE(checkClientProof(ed.authorized, ed.input(ed.binding_a),
                                computeProof(ProofRole::Client, ed.key.public_key, ed.input(ed.binding_a))));
  EXPECT_FALSE(checkClientProof(
      hmac.authorized, hmac.input(hmac.binding_a),
      ed25519Sign(hmac.key.secret, proofTranscript(ProofRole::Client, hmac.input(hmac.binding_a)))));
}

}  // namespace
}  // namespace rx
