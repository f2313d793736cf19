// readCheckedFile (StrictModes-like checks), readPrivateFile and writeNewPrivateFile.
#include "common/file_perms.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

using ::testing::HasSubstr;

class FilePermsTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string writeFile(const std::string& name, const std::string& text, mode_t mode) {
    const std::string p = path(name);
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << p;
    if (fd < 0) return p;
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    EXPECT_EQ(::fchmod(fd, mode), 0);
    ::close(fd);
    return p;
  }

  static std::string readAll(const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  ScratchDir scratch_{"rx_file_perms_test"};
  const std::string dir_ = scratch_.path();
};

TEST_F(FilePermsTest, SecretAcceptsMode0600AndReportsTheMode) {
  const std::string p = writeFile("f", "secret\n", 0600);
  std::string contents;
  mode_t mode = 0;
  const Status s = readCheckedFile(p, 1024, FileAccess::Secret, contents, &mode);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(contents, "secret\n");
  EXPECT_EQ(mode, 0600u);
}

TEST_F(FilePermsTest, SecretRefusesAnyGroupOrOtherBit) {
  for (mode_t m : {0640, 0604, 0610, 0601, 0620, 0602}) {
    const std::string p = writeFile("f" + std::to_string(m), "x", m);
    std::string contents = "untouched";
    const Status s = readCheckedFile(p, 1024, FileAccess::Secret, contents);
    ASSERT_FALSE(s) << std::oct << m;
    EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
    EXPECT_THAT(s.message(), HasSubstr(p));
    EXPECT_EQ(contents, "untouched");
  }
}

TEST_F(FilePermsTest, NotWritableAcceptsMode0644AndReportsTheMode) {
  const std::string p = writeFile("f", "public\n", 0644);
  std::string contents;
  mode_t mode = 0;
  const Status s = readCheckedFile(p, 1024, FileAccess::NotWritable, contents, &mode);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(contents, "public\n");
  EXPECT_EQ(mode, 0644u);
}

TEST_F(FilePermsTest, NotWritableRefusesGroupOrOtherWrite) {
  for (mode_t m : {0664, 0646, 0620, 0602}) {
    const std::string p = writeFile("f" + std::to_string(m), "x", m);
    std::string contents;
    const Status s = readCheckedFile(p, 1024, FileAccess::NotWritable, contents);
    ASSERT_FALSE(s) << std::oct << m;
    EXPECT_THAT(s.message(), HasSubstr("writable"));
    EXPECT_THAT(s.message(), HasSubstr(p));
  }
}

TEST_F(FilePermsTest, RefusesAFileLargerThanTheLimit) {
  const std::string p = writeFile("f", std::string(100, 'x'), 0600);
  std::string contents;
  const Status s = readCheckedFile(p, 99, FileAccess::Secret, contents);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("larger than 99 bytes"));
  EXPECT_TRUE(readCheckedFile(p, 100, FileAccess::Secret, contents));
  EXPECT_EQ(contents.size(), 100u);
}

TEST_F(FilePermsTest, RefusesADirectoryAndAMissingFile) {
  std::string contents;
  const Status dir = readCheckedFile(dir_, 1024, FileAccess::NotWritable, contents);
  ASSERT_FALSE(dir);
  EXPECT_THAT(dir.message(), HasSubstr("not a regular file"));
  const Status missing = readCheckedFile(path("nope"), 1024, FileAccess::NotWritable, contents);
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.message(), HasSubstr(path("nope")));
}

TEST_F(FilePermsTest, RefusesAFileOwnedBySomeoneElse) {
  const std::string p = writeFile("theirs", "x", 0600);
  const uid_t other = ::geteuid() == 65534 ? 65533 : 65534;
  if (::chown(p.c_str(), other, static_cast<gid_t>(-1)) != 0) GTEST_SKIP() << "cannot chown (not root)";
  std::string contents;
  for (FileAccess access : {FileAccess::Secret, FileAccess::NotWritable}) {
    const Status s = readCheckedFile(p, 1024, access, contents);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.message(), HasSubstr("owned by uid " + std::to_string(other)));
  }
}

TEST_F(FilePermsTest, ReadPrivateFileIsTheSecretCheck) {
  std::string contents;
  EXPECT_TRUE(readPrivateFile(writeFile("ok", "k", 0600), 1024, contents));
  EXPECT_EQ(contents, "k");
  const Status s = readPrivateFile(writeFile("open", "k", 0644), 1024, contents);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("chmod 600"));
}

TEST_F(FilePermsTest, WriteNewPrivateFileIsMode0600WithTheContents) {
  const std::string p = path("new");
  const mode_t old = ::umask(0);
  const Status s = writeNewPrivateFile(p, "line one\nline two\n");
  ::umask(old);
  ASSERT_TRUE(s) << s.message();
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(readAll(p), "line one\nline two\n");
  std::string contents;
  EXPECT_TRUE(readPrivateFile(p, 1024, contents));
  EXPECT_EQ(contents, "line one\nline two\n");
}

TEST_F(FilePermsTest, WriteNewPrivateFileNeverOverwrites) {
  const std::string p = writeFile("existing", "keep me", 0600);
  const Status s = writeNewPrivateFile(p, "replaced");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p));
  EXPECT_EQ(readAll(p), "keep me");
}

TEST_F(FilePermsTest, WriteNewPrivateFileDoesNotFollowASymlink) {
  const std::string target = path("target");
  const std::string link = path("link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(writeNewPrivateFile(link, "x"));
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace rx
