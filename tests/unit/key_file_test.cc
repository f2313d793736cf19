// Key lines, client key files, the authorized keys file and writing new key files.
#include "common/key_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/limits.h"

#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string validKeyBase64() { return base64Encode(std::string(kHmacKeySize, '\x11')); }

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A fresh directory under /tmp, removed with everything in it at the end of each test.
class KeyFileTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Creates `name` with exactly `mode` (the umask does not apply to fchmod).
  std::string writeFile(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string p = path(name);
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << p;
    if (fd < 0) return p;
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    EXPECT_EQ(::fchmod(fd, mode), 0);
    ::close(fd);
    return p;
  }

  static mode_t modeOf(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  ScratchDir scratch_{"rx_key_file_test"};
  const std::string dir_ = scratch_.path();
};

// --- privateLine, authorizedLine, parsePrivateLine, parseAuthorizedLine, keyIdFor, generateKey ---

TEST(KeyLine, GenerateFormatParseRoundTrip) {
  const ClientKey key = generateKey(KeyType::HmacSha256, "alice@laptop");
  EXPECT_EQ(key.type, KeyType::HmacSha256);
  EXPECT_EQ(key.secret.size(), kHmacKeySize);
  EXPECT_TRUE(key.public_key.empty());
  EXPECT_EQ(key.comment, "alice@laptop");
  EXPECT_EQ(key.key_id, keyIdFor(KeyType::HmacSha256, key.secret));

  ClientKey parsed;
  ASSERT_TRUE(parsePrivateLine(privateLine(key), parsed));
  EXPECT_EQ(parsed.type, KeyType::HmacSha256);
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.key_id, key.key_id);
  EXPECT_EQ(parsed.comment, key.comment);
}

TEST(KeyLine, DerivingLaterGivesTheSameKey) {
  for (const KeyType type : {KeyType::Ed25519, KeyType::HmacSha256}) {
    const ClientKey key = generateKey(type, "later");
    ClientKey parsed;
    ASSERT_TRUE(parsePrivateLine(privateLine(key), parsed, KeyDerivation::Later));
    EXPECT_EQ(parsed.secret, key.secret);
    EXPECT_TRUE(parsed.key_id.empty());
    completeKey(parsed);
    EXPECT_EQ(parsed.public_key, key.public_key);
    EXPECT_EQ(parsed.key_id, key.key_id);
  }
}

TEST(KeyLine, Ed25519GenerateFormatParseRoundTrip) {
  const ClientKey key = generateKey(KeyType::Ed25519, "bob@desk");
  EXPECT_EQ(key.type, KeyType::Ed25519);
  EXPECT_EQ(key.secret.size(), 32u);
  EXPECT_EQ(key.public_key.size(), 32u);
  EXPECT_EQ(key.public_key, ed25519PublicKey(key.secret));
  EXPECT_EQ(key.comment, "bob@desk");
  EXPECT_EQ(key.key_id, keyIdFor(KeyType::Ed25519, key.public_key));

  ClientKey parsed;
  const Status s = parsePrivateLine(privateLine(key), parsed);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(parsed.type, KeyType::Ed25519);
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.public_key, key.public_key);  // derived from the seed
  EXPECT_EQ(parsed.key_id, key.key_id);
  EXPECT_EQ(parsed.comment, key.comment);
}

TEST(KeyLine, RoundTripWithoutComment) {
  const ClientKey key = generateKey(KeyType::HmacSha256, "");
  const std::string line = privateLine(key);
  EXPECT_EQ(line, "hmac-sha256 " + base64Encode(key.secret));
  ClientKey parsed;
  ASSERT_TRUE(parsePrivateLine(line, parsed));
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.comment, "");
}

TEST(KeyLine, Ed25519RoundTripWithoutComment) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  EXPECT_EQ(privateLine(key), "ed25519-private " + base64Encode(key.secret));
  EXPECT_EQ(authorizedLine(key), "ed25519 " + base64Encode(key.public_key));
  ClientKey parsed;
  ASSERT_TRUE(parsePrivateLine(privateLine(key), parsed));
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.comment, "");
  AuthorizedKey ak;
  ASSERT_TRUE(parseAuthorizedLine(authorizedLine(key), ak));
  EXPECT_EQ(ak.material, key.public_key);
  EXPECT_EQ(ak.comment, "");
}

TEST(KeyLine, FormatIsTypeBase64Comment) {
  ClientKey key;
  key.type = KeyType::HmacSha256;
  key.secret = std::string(kHmacKeySize, '\x11');
  key.key_id = keyIdFor(KeyType::HmacSha256, key.secret);
  key.comment = "backup key";
  EXPECT_EQ(privateLine(key), "hmac-sha256 " + validKeyBase64() + " backup key");
  // For HMAC the daemon holds the same shared secret.
  EXPECT_EQ(authorizedLine(key), "hmac-sha256 " + validKeyBase64() + " backup key");
}

TEST(KeyLine, Ed25519FormatsPrivateSeedAndPublicKey) {
  ClientKey key;
  key.type = KeyType::Ed25519;
  key.secret = std::string(32, '\x11');
  key.public_key = ed25519PublicKey(key.secret);
  key.key_id = keyIdFor(KeyType::Ed25519, key.public_key);
  key.comment = "laptop key";
  EXPECT_EQ(privateLine(key), "ed25519-private " + validKeyBase64() + " laptop key");
  EXPECT_EQ(authorizedLine(key), "ed25519 " + base64Encode(key.public_key) + " laptop key");
  // The secret never appears in the authorized line.
  EXPECT_EQ(authorizedLine(key).find(validKeyBase64()), std::string::npos);
}

TEST(KeyLine, ParseKeepsACommentWithSpacesAndTrimsWhitespace) {
  ClientKey parsed;
  ASSERT_TRUE(parsePrivateLine("  hmac-sha256\t" + validKeyBase64() + "   ci runner 7  \r", parsed));
  EXPECT_EQ(parsed.secret, std::string(kHmacKeySize, '\x11'));
  EXPECT_EQ(parsed.comment, "ci runner 7");

  AuthorizedKey ak;
  ASSERT_TRUE(parseAuthorizedLine("  ed25519\t" + validKeyBase64() + "   ci runner 8  \r", ak));
  EXPECT_EQ(ak.material, std::string(32, '\x11'));
  EXPECT_EQ(ak.comment, "ci runner 8");
}

TEST(KeyLine, TwoGeneratedKeysDiffer) {
  for (KeyType type : {KeyType::HmacSha256, KeyType::Ed25519}) {
    const ClientKey a = generateKey(type, "a");
    const ClientKey b = generateKey(type, "b");
    EXPECT_NE(a.secret, b.secret);
    if (type == KeyType::Ed25519) {
      EXPECT_NE(a.public_key, b.public_key);
    }
    EXPECT_NE(a.key_id, b.key_id);
  }
}

TEST(KeyLine, ClientAndAuthorizedKeyAgreeForBothTypes) {
  for (KeyType type : {KeyType::HmacSha256, KeyType::Ed25519}) {
    const ClientKey key = generateKey(type, "round trip");
    ClientKey client;
    ASSERT_TRUE(parsePrivateLine(privateLine(key), client));
    AuthorizedKey server;
    const Status s = parseAuthorizedLine(authorizedLine(key), server);
    ASSERT_TRUE(s) << s.message();
    EXPECT_EQ(server.type, type);
    EXPECT_EQ(client.type, type);
    EXPECT_EQ(server.key_id, key.key_id);
    EXPECT_EQ(client.key_id, server.key_id);
    EXPECT_EQ(server.material, type == KeyType::Ed25519 ? key.public_key : key.secret);
    EXPECT_EQ(server.comment, "round trip");
    EXPECT_EQ(server.line, 0);  // only loadAuthorizedKeys numbers lines
  }
}

TEST(KeyLine, AuthorizedLineWithoutOptionsHasNoRestrictions) {
  const ClientKey key = generateKey(KeyType::Ed25519, "plain");
  AuthorizedKey ak;
  ak.options.no_stdin = true;  // overwritten by the parse
  ASSERT_TRUE(parseAuthorizedLine(authorizedLine(key), ak));
  EXPECT_FALSE(ak.options.command);
  EXPECT_TRUE(ak.options.from.empty());
  EXPECT_FALSE(ak.options.user);
  EXPECT_FALSE(ak.options.env);
  EXPECT_FALSE(ak.options.no_stdin);
  EXPECT_FALSE(ak.options.max_jobs);
}

TEST(KeyLine, AuthorizedLineStartingWithAnUnknownOptionIsRefused) {
  for (KeyType type : {KeyType::HmacSha256, KeyType::Ed25519}) {
    AuthorizedKey ak;
    const Status s = parseAuthorizedLine("no-such-option " + authorizedLine(generateKey(type, "c")), ak);
    ASSERT_FALSE(s);
    EXPECT_FALSE(s.message().empty());
  }
}

TEST(KeyLine, PublicKeyLineIsNotAPrivateKey) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  ClientKey parsed;
  const Status s = parsePrivateLine(authorizedLine(key), parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("public key"));
  EXPECT_THAT(s.message(), HasSubstr("not a private key"));
}

TEST(KeyLine, PrivateKeyDoesNotBelongInAuthorizedKeys) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  AuthorizedKey ak;
  ASSERT_FALSE(parseAuthorizedLine(privateLine(key), ak));
  // After an options field the type is recognised and named.
  const Status s = parseAuthorizedLine("no-stdin " + privateLine(key), ak);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("private key"));
  EXPECT_THAT(s.message(), HasSubstr("authorized keys"));
}

// KNOWN BUG (common/key_file.cc, parseAuthorizedLine): a bare "ed25519-private SEED" line is taken
// for an options field followed by the key type "SEED", so the error is "unknown key type
// \"<base64 seed>\"": the kEd25519PrivateType branch is never reached, and the secret seed is
// copied into the error, which the daemon logs. Enable once fixed.
TEST(KeyLine, BarePrivateKeyLineIsNamedAndTheSeedIsNotEchoed) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  AuthorizedKey ak;
  const Status s = parseAuthorizedLine(privateLine(key), ak);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("private key"));
  EXPECT_THAT(s.message(), HasSubstr("authorized keys"));
  EXPECT_THAT(s.message(), Not(HasSubstr(base64Encode(key.secret))));
  // The same path leaks a shared HMAC secret when its key type is misspelt.
  const ClientKey hmac = generateKey(KeyType::HmacSha256, "");
  const Status typo = parseAuthorizedLine("hmac-sha265 " + base64Encode(hmac.secret), ak);
  ASSERT_FALSE(typo);
  EXPECT_THAT(typo.message(), Not(HasSubstr(base64Encode(hmac.secret))));
}

TEST(KeyId, IsDeterministic) {
  const std::string secret(kHmacKeySize, '\x5a');
  EXPECT_EQ(keyIdFor(KeyType::HmacSha256, secret), keyIdFor(KeyType::HmacSha256, secret));
  EXPECT_NE(keyIdFor(KeyType::HmacSha256, secret),
            keyIdFor(KeyType::HmacSha256, std::string(kHmacKeySize, '\x5b')));
  EXPECT_EQ(keyIdFor(KeyType::Ed25519, secret), keyIdFor(KeyType::Ed25519, secret));
}

TEST(KeyId, IsSha256OfTheLabelAndKey) {
  const std::string material(32, '\x5a');
  const std::string digest = toHex(sha256(std::string("rexec key id\0", 13) + material));
  EXPECT_EQ(keyIdFor(KeyType::HmacSha256, material), "hmac-" + digest.substr(0, 24));
  EXPECT_EQ(keyIdFor(KeyType::Ed25519, material), "ed25519-" + digest.substr(0, 24));
}

TEST(KeyId, IsHmacDashAnd24HexDigits) {
  const std::string id = keyIdFor(KeyType::HmacSha256, generateKey(KeyType::HmacSha256, "").secret);
  ASSERT_EQ(id.size(), 5u + 24u) << id;
  EXPECT_EQ(id.substr(0, 5), "hmac-");
  EXPECT_TRUE(isLowerHex(id.substr(5))) << id;
}

TEST(KeyId, IsEd25519DashAnd24HexDigits) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  const std::string id = keyIdFor(KeyType::Ed25519, key.public_key);
  EXPECT_EQ(id, key.key_id);
  ASSERT_EQ(id.size(), 8u + 24u) << id;
  EXPECT_EQ(id.substr(0, 8), "ed25519-");
  EXPECT_TRUE(isLowerHex(id.substr(8))) << id;
}

TEST(KeyId, Ed25519IdComesFromThePublicKeyNotTheSeed) {
  const ClientKey key = generateKey(KeyType::Ed25519, "");
  EXPECT_NE(key.key_id, keyIdFor(KeyType::Ed25519, key.secret));
}

TEST(KeyLine, UnknownTypeIsRefused) {
  ClientKey parsed;
  const Status s = parsePrivateLine("ssh-ed25519 " + validKeyBase64(), parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("unknown key type"));
  EXPECT_THAT(s.message(), HasSubstr("ssh-ed25519"));

  AuthorizedKey ak;
  const Status a = parseAuthorizedLine("ssh-rsa", ak);
  ASSERT_FALSE(a);
  EXPECT_THAT(a.message(), HasSubstr("unknown key type"));
  EXPECT_FALSE(parseAuthorizedLine("ssh-ed25519 " + validKeyBase64(), ak));
}

TEST(KeyLine, MissingKeyIsRefused) {
  ClientKey parsed;
  const Status s = parsePrivateLine("hmac-sha256", parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("missing key"));
  EXPECT_FALSE(parsePrivateLine("hmac-sha256   \t ", parsed));
  EXPECT_FALSE(parsePrivateLine("ed25519-private", parsed));

  AuthorizedKey ak;
  const Status a = parseAuthorizedLine("ed25519", ak);
  ASSERT_FALSE(a);
  EXPECT_THAT(a.message(), HasSubstr("missing key"));
}

TEST(KeyLine, BadBase64IsRefused) {
  ClientKey parsed;
  const Status s = parsePrivateLine("hmac-sha256 not*base64!", parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("base64"));
  AuthorizedKey ak;
  const Status a = parseAuthorizedLine("ed25519 not*base64!", ak);
  ASSERT_FALSE(a);
  EXPECT_THAT(a.message(), HasSubstr("base64"));
}

TEST(KeyLine, WrongKeyLengthIsRefused) {
  ClientKey parsed;
  const Status short_key = parsePrivateLine("hmac-sha256 " + base64Encode(std::string(31, 'k')), parsed);
  ASSERT_FALSE(short_key);
  EXPECT_THAT(short_key.message(), HasSubstr("31 bytes"));
  const Status long_key = parsePrivateLine("hmac-sha256 " + base64Encode(std::string(33, 'k')), parsed);
  ASSERT_FALSE(long_key);
  EXPECT_THAT(long_key.message(), HasSubstr("33 bytes"));
  const Status short_seed = parsePrivateLine("ed25519-private " + base64Encode(std::string(31, 'k')), parsed);
  ASSERT_FALSE(short_seed);
  EXPECT_THAT(short_seed.message(), HasSubstr("31 bytes"));

  AuthorizedKey ak;
  const Status long_pub = parseAuthorizedLine("ed25519 " + base64Encode(std::string(64, 'k')), ak);
  ASSERT_FALSE(long_pub);
  EXPECT_THAT(long_pub.message(), HasSubstr("64 bytes"));
}

// --- loadKeyFile ---

TEST_F(KeyFileTest, LoadKeyFileAcceptsMode0600) {
  const ClientKey key = generateKey(KeyType::HmacSha256, "me");
  const std::string p = writeFile("id", "# comment\n\n" + privateLine(key) + "\n", 0600);
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.type, KeyType::HmacSha256);
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.key_id, key.key_id);
  EXPECT_EQ(loaded.comment, "me");
}

TEST_F(KeyFileTest, LoadKeyFileAcceptsAnEd25519Key) {
  const ClientKey key = generateKey(KeyType::Ed25519, "me");
  const std::string p = writeFile("id", "# comment\n" + privateLine(key) + "\n", 0600);
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.type, KeyType::Ed25519);
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.public_key, key.public_key);
  EXPECT_EQ(loaded.key_id, key.key_id);
  EXPECT_EQ(loaded.comment, "me");
}

TEST_F(KeyFileTest, LoadKeyFileRefusesMode0644) {
  for (KeyType type : {KeyType::HmacSha256, KeyType::Ed25519}) {
    const std::string name = type == KeyType::Ed25519 ? "id_ed25519" : "id_hmac";
    const std::string p = writeFile(name, privateLine(generateKey(type, "")) + "\n", 0644);
    ClientKey loaded;
    const Status s = loadKeyFile(p, loaded);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
  }
}

TEST_F(KeyFileTest, LoadKeyFileRefusesMode0640) {
  const std::string p = writeFile("id", privateLine(generateKey(KeyType::HmacSha256, "")) + "\n", 0640);
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesADirectory) {
  const std::string p = path("subdir");
  ASSERT_EQ(::mkdir(p.c_str(), 0700), 0);
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("not a regular file"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesAMissingFile) {
  ClientKey loaded;
  const Status s = loadKeyFile(path("nope"), loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(path("nope")));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesTwoKeys) {
  const std::string p = writeFile("id", privateLine(generateKey(KeyType::HmacSha256, "a")) + "\n" +
                                            privateLine(generateKey(KeyType::Ed25519, "b")) + "\n");
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("more than one key"));
  EXPECT_THAT(s.message(), HasSubstr(p + ":2:"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesAnEmptyFile) {
  const std::string p = writeFile("id", "");
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("no key"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesACommentOnlyFile) {
  const std::string p = writeFile("id", "# just a comment\n\n   \n# another\n");
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("no key"));
}

TEST_F(KeyFileTest, LoadKeyFileReportsABadLineWithFileAndLine) {
  const std::string p = writeFile("id", "# header\nhmac-sha256 !!!!\n");
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":2: "));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesAPublicKeyWithFileAndLine) {
  const std::string p = writeFile("id.pub", authorizedLine(generateKey(KeyType::Ed25519, "pub")) + "\n");
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":1: "));
  EXPECT_THAT(s.message(), HasSubstr("public key"));
}

// --- loadAuthorizedKeys ---

TEST_F(KeyFileTest, AuthorizedKeysSkipsCommentsAndBlankLines) {
  const ClientKey a = generateKey(KeyType::HmacSha256, "alice");
  const ClientKey b = generateKey(KeyType::Ed25519, "bob");
  const ClientKey c = generateKey(KeyType::HmacSha256, "");
  const std::string text = "# authorized keys\n\n" + authorizedLine(a) + "\n   \n  # indented comment\n" +
                           authorizedLine(b) + "\r\n\t\n" + authorizedLine(c);  // no final newline
  const std::string p = writeFile("authorized_keys", text);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].type, KeyType::HmacSha256);
  EXPECT_EQ(keys[0].key_id, a.key_id);
  EXPECT_EQ(keys[0].comment, "alice");
  EXPECT_EQ(keys[0].line, 3);
  EXPECT_EQ(keys[1].type, KeyType::Ed25519);
  EXPECT_EQ(keys[1].key_id, b.key_id);
  EXPECT_EQ(keys[1].material, b.public_key);
  EXPECT_EQ(keys[1].comment, "bob");
  EXPECT_EQ(keys[1].line, 6);
  EXPECT_EQ(keys[2].material, c.secret);
  EXPECT_EQ(keys[2].line, 8);
}

TEST_F(KeyFileTest, AuthorizedKeysMayBeEmpty) {
  const std::string p = writeFile("authorized_keys", "# nobody yet\n");
  std::vector<AuthorizedKey> keys;
  ASSERT_TRUE(loadAuthorizedKeys(p, keys));
  EXPECT_TRUE(keys.empty());
}

TEST_F(KeyFileTest, AuthorizedKeysReportsTheBadLineNumber) {
  const std::string text = "# header\n" + authorizedLine(generateKey(KeyType::HmacSha256, "ok")) + "\n\n" +
                           "hmac-sha256 " + base64Encode("short") + " broken\n" +
                           authorizedLine(generateKey(KeyType::HmacSha256, "after")) + "\n";
  const std::string p = writeFile("authorized_keys", text);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":4: "));
  EXPECT_THAT(s.message(), HasSubstr("5 bytes"));
}

TEST_F(KeyFileTest, AuthorizedKeysLeavesTheOutputUntouchedOnError) {
  const std::string p = writeFile("authorized_keys", "bogus line\n");
  std::vector<AuthorizedKey> keys(1);
  keys[0].line = 99;
  ASSERT_FALSE(loadAuthorizedKeys(p, keys));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].line, 99);
}

TEST_F(KeyFileTest, AuthorizedKeysChecksPermissions) {
  // An HMAC key is a shared secret: the file must not be readable by group or others.
  const std::string p =
      writeFile("authorized_keys", authorizedLine(generateKey(KeyType::HmacSha256, "")) + "\n", 0644);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
  EXPECT_THAT(s.message(), HasSubstr(p + ":1:"));
  EXPECT_TRUE(keys.empty());
}

TEST_F(KeyFileTest, AuthorizedKeysWithAnHmacKeyRefusesGroupRead) {
  const std::string text = "# mixed\n" + authorizedLine(generateKey(KeyType::Ed25519, "pub")) + "\n" +
                           authorizedLine(generateKey(KeyType::HmacSha256, "shared")) + "\n";
  const std::string p = writeFile("authorized_keys", text, 0640);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":3:"));  // the HMAC line
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
  EXPECT_TRUE(keys.empty());
}

TEST_F(KeyFileTest, AuthorizedKeysWithOnlyEd25519KeysMayBeWorldReadable) {
  const ClientKey a = generateKey(KeyType::Ed25519, "a");
  const ClientKey b = generateKey(KeyType::Ed25519, "b");
  const std::string p =
      writeFile("authorized_keys", authorizedLine(a) + "\n" + authorizedLine(b) + "\n", 0644);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key_id, a.key_id);
  EXPECT_EQ(keys[1].key_id, b.key_id);
}

TEST_F(KeyFileTest, AuthorizedKeysMustNotBeWritableByGroupOrOthers) {
  for (mode_t mode : {0664, 0646, 0620, 0602}) {
    const std::string name = "authorized_keys_" + std::to_string(mode);
    const std::string p = writeFile(name, authorizedLine(generateKey(KeyType::Ed25519, "")) + "\n", mode);
    std::vector<AuthorizedKey> keys;
    const Status s = loadAuthorizedKeys(p, keys);
    ASSERT_FALSE(s) << std::oct << mode;
    EXPECT_THAT(s.message(), HasSubstr(p));
    EXPECT_THAT(s.message(), HasSubstr("writable"));
    EXPECT_TRUE(keys.empty());
  }
}

TEST_F(KeyFileTest, AuthorizedKeysRefusesAPrivateKeyLine) {
  const std::string p =
      writeFile("authorized_keys", "# oops\n" + privateLine(generateKey(KeyType::Ed25519, "")) + "\n");
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":2: "));
  // The message itself: see KeyLine.BarePrivateKeyLineIsNamedAndTheSeedIsNotEchoed.
}

TEST_F(KeyFileTest, AuthorizedKeysRefusesAnUnknownOptionWithFileAndLine) {
  const std::string p = writeFile("authorized_keys",
                                  "bogus-option " + authorizedLine(generateKey(KeyType::Ed25519, "")) + "\n");
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":1: "));
  EXPECT_TRUE(keys.empty());
}

// --- writeKeyFile ---

class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

 private:
  mode_t old_;
};

TEST_F(KeyFileTest, WriteKeyFileCreatesMode0600EvenWithUmaskZero) {
  const ClientKey key = generateKey(KeyType::HmacSha256, "new");
  const std::string p = path("id");
  {
    UmaskGuard guard(0);
    const Status s = writeKeyFile(p, key);
    ASSERT_TRUE(s) << s.message();
  }
  EXPECT_EQ(modeOf(p), 0600u);
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.comment, "new");
}

TEST_F(KeyFileTest, WriteKeyFileRoundTripsAnEd25519Key) {
  const ClientKey key = generateKey(KeyType::Ed25519, "new ed25519");
  const std::string p = path("id_ed25519");
  {
    UmaskGuard guard(0);
    const Status s = writeKeyFile(p, key);
    ASSERT_TRUE(s) << s.message();
  }
  EXPECT_EQ(modeOf(p), 0600u);
  std::ifstream in(p);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(contents, HasSubstr(privateLine(key) + "\n"));
  ClientKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.type, KeyType::Ed25519);
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.public_key, key.public_key);
  EXPECT_EQ(loaded.key_id, key.key_id);
  EXPECT_EQ(loaded.comment, "new ed25519");
}

TEST_F(KeyFileTest, WriteKeyFileRefusesToOverwrite) {
  const std::string p = writeFile("id", "precious\n");
  const Status s = writeKeyFile(p, generateKey(KeyType::HmacSha256, ""));
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p));
  std::ifstream in(p);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "precious\n");
}

TEST_F(KeyFileTest, WriteKeyFileRefusesToFollowASymlink) {
  const std::string target = path("target");
  const std::string link = path("link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(writeKeyFile(link, generateKey(KeyType::Ed25519, "")));
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace rx
