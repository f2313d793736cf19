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

#include "common/encoding.h"
#include "common/limits.h"

namespace rx {
namespace {

using ::testing::HasSubstr;

std::string validKeyBase64() { return base64Encode(std::string(kHmacKeySize, '\x11')); }

bool isLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A fresh directory under /tmp, removed with everything in it at the end of each test.
class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rx_key_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

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

  std::string dir_;
};

// --- parseKeyLine, formatKeyLine, keyIdFor, generateHmacKey ---

TEST(KeyLine, GenerateFormatParseRoundTrip) {
  const HmacKey key = generateHmacKey("alice@laptop");
  EXPECT_EQ(key.secret.size(), kHmacKeySize);
  EXPECT_EQ(key.comment, "alice@laptop");
  EXPECT_EQ(key.key_id, keyIdFor(key.secret));

  HmacKey parsed;
  ASSERT_TRUE(parseKeyLine(formatKeyLine(key), parsed));
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.key_id, key.key_id);
  EXPECT_EQ(parsed.comment, key.comment);
}

TEST(KeyLine, RoundTripWithoutComment) {
  const HmacKey key = generateHmacKey("");
  const std::string line = formatKeyLine(key);
  EXPECT_EQ(line, "hmac-sha256 " + base64Encode(key.secret));
  HmacKey parsed;
  ASSERT_TRUE(parseKeyLine(line, parsed));
  EXPECT_EQ(parsed.secret, key.secret);
  EXPECT_EQ(parsed.comment, "");
}

TEST(KeyLine, FormatIsTypeBase64Comment) {
  HmacKey key;
  key.secret = std::string(kHmacKeySize, '\x11');
  key.key_id = keyIdFor(key.secret);
  key.comment = "backup key";
  EXPECT_EQ(formatKeyLine(key), "hmac-sha256 " + validKeyBase64() + " backup key");
}

TEST(KeyLine, ParseKeepsACommentWithSpacesAndTrimsWhitespace) {
  HmacKey parsed;
  ASSERT_TRUE(parseKeyLine("  hmac-sha256\t" + validKeyBase64() + "   ci runner 7  \r", parsed));
  EXPECT_EQ(parsed.secret, std::string(kHmacKeySize, '\x11'));
  EXPECT_EQ(parsed.comment, "ci runner 7");
}

TEST(KeyLine, TwoGeneratedKeysDiffer) {
  const HmacKey a = generateHmacKey("a");
  const HmacKey b = generateHmacKey("b");
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.key_id, b.key_id);
}

TEST(KeyId, IsDeterministic) {
  const std::string secret(kHmacKeySize, '\x5a');
  EXPECT_EQ(keyIdFor(secret), keyIdFor(secret));
  EXPECT_NE(keyIdFor(secret), keyIdFor(std::string(kHmacKeySize, '\x5b')));
}

TEST(KeyId, IsHmacDashAnd24HexDigits) {
  const std::string id = keyIdFor(generateHmacKey("").secret);
  ASSERT_EQ(id.size(), 5u + 24u) << id;
  EXPECT_EQ(id.substr(0, 5), "hmac-");
  EXPECT_TRUE(isLowerHex(id.substr(5))) << id;
}

TEST(KeyLine, UnknownTypeIsRefused) {
  HmacKey parsed;
  const Status s = parseKeyLine("ssh-ed25519 " + validKeyBase64(), parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("unknown key type"));
  EXPECT_THAT(s.message(), HasSubstr("ssh-ed25519"));
}

TEST(KeyLine, MissingKeyIsRefused) {
  HmacKey parsed;
  const Status s = parseKeyLine("hmac-sha256", parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("missing key"));
  EXPECT_FALSE(parseKeyLine("hmac-sha256   \t ", parsed));
}

TEST(KeyLine, BadBase64IsRefused) {
  HmacKey parsed;
  const Status s = parseKeyLine("hmac-sha256 not*base64!", parsed);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("base64"));
}

TEST(KeyLine, WrongKeyLengthIsRefused) {
  HmacKey parsed;
  const Status short_key = parseKeyLine("hmac-sha256 " + base64Encode(std::string(31, 'k')), parsed);
  ASSERT_FALSE(short_key);
  EXPECT_THAT(short_key.message(), HasSubstr("31 bytes"));
  const Status long_key = parseKeyLine("hmac-sha256 " + base64Encode(std::string(33, 'k')), parsed);
  ASSERT_FALSE(long_key);
  EXPECT_THAT(long_key.message(), HasSubstr("33 bytes"));
}

// --- loadKeyFile ---

TEST_F(KeyFileTest, LoadKeyFileAcceptsMode0600) {
  const HmacKey key = generateHmacKey("me");
  const std::string p = writeFile("id", "# comment\n\n" + formatKeyLine(key) + "\n", 0600);
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.key_id, key.key_id);
  EXPECT_EQ(loaded.comment, "me");
}

TEST_F(KeyFileTest, LoadKeyFileRefusesMode0644) {
  const std::string p = writeFile("id", formatKeyLine(generateHmacKey("")) + "\n", 0644);
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesMode0640) {
  const std::string p = writeFile("id", formatKeyLine(generateHmacKey("")) + "\n", 0640);
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesADirectory) {
  const std::string p = path("subdir");
  ASSERT_EQ(::mkdir(p.c_str(), 0700), 0);
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("not a regular file"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesAMissingFile) {
  HmacKey loaded;
  const Status s = loadKeyFile(path("nope"), loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(path("nope")));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesTwoKeys) {
  const std::string p = writeFile(
      "id", formatKeyLine(generateHmacKey("a")) + "\n" + formatKeyLine(generateHmacKey("b")) + "\n");
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("more than one key"));
  EXPECT_THAT(s.message(), HasSubstr(p + ":2:"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesAnEmptyFile) {
  const std::string p = writeFile("id", "");
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("no key"));
}

TEST_F(KeyFileTest, LoadKeyFileRefusesACommentOnlyFile) {
  const std::string p = writeFile("id", "# just a comment\n\n   \n# another\n");
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("no key"));
}

TEST_F(KeyFileTest, LoadKeyFileReportsABadLineWithFileAndLine) {
  const std::string p = writeFile("id", "# header\nhmac-sha256 !!!!\n");
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":2: "));
}

// --- loadAuthorizedKeys ---

TEST_F(KeyFileTest, AuthorizedKeysSkipsCommentsAndBlankLines) {
  const HmacKey a = generateHmacKey("alice");
  const HmacKey b = generateHmacKey("bob");
  const HmacKey c = generateHmacKey("");
  const std::string text = "# authorized keys\n\n" + formatKeyLine(a) + "\n   \n  # indented comment\n" +
                           formatKeyLine(b) + "\r\n\t\n" + formatKeyLine(c);  // no final newline
  const std::string p = writeFile("authorized_keys", text);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].key.key_id, a.key_id);
  EXPECT_EQ(keys[0].key.comment, "alice");
  EXPECT_EQ(keys[0].line, 3);
  EXPECT_EQ(keys[1].key.key_id, b.key_id);
  EXPECT_EQ(keys[1].key.comment, "bob");
  EXPECT_EQ(keys[1].line, 6);
  EXPECT_EQ(keys[2].key.secret, c.secret);
  EXPECT_EQ(keys[2].line, 8);
}

TEST_F(KeyFileTest, AuthorizedKeysMayBeEmpty) {
  const std::string p = writeFile("authorized_keys", "# nobody yet\n");
  std::vector<AuthorizedKey> keys;
  ASSERT_TRUE(loadAuthorizedKeys(p, keys));
  EXPECT_TRUE(keys.empty());
}

TEST_F(KeyFileTest, AuthorizedKeysReportsTheBadLineNumber) {
  const std::string text = "# header\n" + formatKeyLine(generateHmacKey("ok")) + "\n\n" + "hmac-sha256 " +
                           base64Encode("short") + " broken\n" + formatKeyLine(generateHmacKey("after")) +
                           "\n";
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
  const std::string p = writeFile("authorized_keys", formatKeyLine(generateHmacKey("")) + "\n", 0644);
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
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
  const HmacKey key = generateHmacKey("new");
  const std::string p = path("id");
  {
    UmaskGuard guard(0);
    const Status s = writeKeyFile(p, key);
    ASSERT_TRUE(s) << s.message();
  }
  EXPECT_EQ(modeOf(p), 0600u);
  HmacKey loaded;
  const Status s = loadKeyFile(p, loaded);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(loaded.secret, key.secret);
  EXPECT_EQ(loaded.comment, "new");
}

TEST_F(KeyFileTest, WriteKeyFileRefusesToOverwrite) {
  const std::string p = writeFile("id", "precious\n");
  const Status s = writeKeyFile(p, generateHmacKey(""));
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
  EXPECT_FALSE(writeKeyFile(link, generateHmacKey("")));
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace rx
