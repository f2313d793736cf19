// The master's socket (client/control_socket.h): -S PATH tokens, and a master that appears at
// PATH only once it listens, never in the place of a live one.
#include "client/control_socket.h"

#include <stdlib.h>
#include <sys/socket.h>
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

TEST(ControlPathTokens, HostPortAndPercentAreExpanded) {
  std::string out;
  ASSERT_TRUE(expandControlPath("/run/user/1/rx-%h:%p", "web1", 5512, out));
  EXPECT_EQ(out, "/run/user/1/rx-web1:5512");
  ASSERT_TRUE(expandControlPath("/tmp/%%h-%h", "::1", 22, out));
  EXPECT_EQ(out, "/tmp/%h-::1");
  ASSERT_TRUE(expandControlPath("/tmp/plain", "web1", 1, out));
  EXPECT_EQ(out, "/tmp/plain");
}

TEST(ControlPathTokens, UnknownTokensAndHostsWithASlashAreErrors) {
  std::string out;
  Status s = expandControlPath("/tmp/%r@%h", "web1", 1, out);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "-S /tmp/%r@%h: unknown token %r (known: %h the host, %p the port, %% a %)");
  s = expandControlPath("/tmp/x%", "web1", 1, out);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("unknown token %"));
  s = expandControlPath("/tmp/%h", "../../etc", 1, out);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "-S /tmp/%h: the host ../../etc cannot be part of a path");
}

class ControlSocketTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
  }
  std::string path() const { return dir_ + "/m.sock"; }
  // A master's socket, bound and listening under its own name, not yet published.
  int listening(std::string& bound) {
    int fd = -1;
    EXPECT_TRUE(bindControlSocket(path(), fd, bound));
    EXPECT_EQ(::listen(fd, 8), 0);
    fds_.push_back(fd);
    return fd;
  }
  size_t entries() const {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }

  ScratchDir scratch_{"rx_control_socket_test"};
  const std::string dir_ = scratch_.path();
  std::vector<int> fds_;
};

TEST_F(ControlSocketTest, ASocketAppearsAtThePathOnlyWhenPublishedWithMode0600) {
  std::string bound;
  listening(bound);
  EXPECT_EQ(bound.rfind(path() + ".", 0), 0u) << bound;
  EXPECT_EQ(bound.size(), path().size() + 9);
  EXPECT_FALSE(std::filesystem::exists(path()));
  std::string error;
  EXPECT_EQ(connectControlSocket(path(), error), -1);
  PublishedSocket published;
  bool taken = true;
  ASSERT_TRUE(publishControlSocket(bound, path(), published, taken));
  EXPECT_FALSE(taken);
  EXPECT_FALSE(std::filesystem::exists(bound));  // its own name is gone
  struct stat st;
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const int c = connectControlSocket(path(), error);
  EXPECT_GE(c, 0) << error;
  if (c >= 0) ::close(c);
  unpublishControlSocket(path(), published);
  EXPECT_FALSE(std::filesystem::exists(path()));
}

TEST_F(ControlSocketTest, ASecondMasterCannotTakeALiveOnesPlaceButReplacesAStaleOne) {
  std::string first_bound, second_bound;
  listening(first_bound);
  listening(second_bound);
  PublishedSocket first, second;
  bool taken = false;
  ASSERT_TRUE(publishControlSocket(first_bound, path(), first, taken));
  bool ignored = false;
  EXPECT_FALSE(checkControlPath(path(), ignored));
  Status s = publishControlSocket(second_bound, path(), second, taken);
  ASSERT_FALSE(s);
  EXPECT_TRUE(taken);
  EXPECT_EQ(s.message(), "a master already listens on " + path());
  EXPECT_FALSE(std::filesystem::exists(second_bound));
  EXPECT_EQ(entries(), 1u);
  // The first master goes without removing its socket (killed): stale. A new master checks the
  // path as fine and replaces it.
  ::close(fds_[0]);
  fds_.erase(fds_.begin());
  EXPECT_TRUE(checkControlPath(path(), taken));
  std::string third_bound;
  listening(third_bound);
  PublishedSocket third;
  ASSERT_TRUE(publishControlSocket(third_bound, path(), third, taken));
  std::string error;
  const int c = connectControlSocket(path(), error);
  EXPECT_GE(c, 0) << error;
  if (c >= 0) ::close(c);
  // The first master's clean-up (had it run late) leaves the new socket alone.
  unpublishControlSocket(path(), first);
  EXPECT_TRUE(std::filesystem::exists(path()));
  unpublishControlSocket(path(), third);
  EXPECT_FALSE(std::filesystem::exists(path()));
}

TEST_F(ControlSocketTest, APathThatIsNotASocketIsNeitherCheckedFineNorReplaced) {
  std::ofstream(path()) << "x";
  bool taken = true;
  Status s = checkControlPath(path(), taken);
  ASSERT_FALSE(s);
  EXPECT_FALSE(taken);
  EXPECT_EQ(s.message(), path() + " exists and is not a socket");
  std::string bound;
  listening(bound);
  PublishedSocket published;
  s = publishControlSocket(bound, path(), published, taken);
  ASSERT_FALSE(s);
  EXPECT_FALSE(taken);
  EXPECT_EQ(s.message(), path() + " exists and is not a socket");
  std::ifstream in(path());
  std::string text;
  in >> text;
  EXPECT_EQ(text, "x");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(ControlSocketTest, PathsTooLongForTheMastersOwnNameAreRefused) {
  const std::string longest = "/tmp/" + std::string(maxControlPathSize() - 5, 'a');
  const std::string too_long = longest + "a";
  bool taken = false;
  EXPECT_TRUE(checkControlPath(longest, taken));
  Status s = checkControlPath(too_long, taken);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "control socket path must be 1 to 98 bytes");
  std::string error;
  EXPECT_EQ(connectControlSocket(too_long, error), -1);
  EXPECT_EQ(error, "control socket path must be 1 to 98 bytes");
}

}  // namespace
}  // namespace rx
