// dirUsableBy: may a command running as another uid/gid (key option user=) work in a directory?
// Judged by mode bits along the canonical path, in the kernel's owner/group/other order.
#include "daemon/dir_access.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

// The test's own directories belong to this uid/gid (chowned there when the test runs as root,
// so that the owner bits are really exercised: root passes every check).
constexpr uid_t kOwner = 4242;
constexpr gid_t kGroup = 4243;
constexpr uid_t kStranger = 4244;
constexpr gid_t kStrangerGroup = 4245;

class DirAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_ = ::geteuid() == 0 ? kOwner : ::geteuid();
    group_ = ::geteuid() == 0 ? kGroup : ::getegid();
    ASSERT_NE(owner_, kStranger);
    make(root_, 0711);
  }
  void make(const std::string& path, mode_t mode) {
    if (path != root_) {
      ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path;
    }
    if (::geteuid() == 0) {
      ASSERT_EQ(::chown(path.c_str(), kOwner, kGroup), 0);
    }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  ScratchDir scratch_{"rx_dir_access_test"};
  const std::string root_ = scratch_.path();
  uid_t owner_ = 0;
  gid_t group_ = 0;
};

TEST_F(DirAccessTest, OthersNeedTheirSearchBitOnEveryLevel) {
  make(root_ + "/open", 0755);
  EXPECT_TRUE(dirUsableBy(root_ + "/open", kStranger, kStrangerGroup));
  make(root_ + "/closed", 0750);
  EXPECT_FALSE(dirUsableBy(root_ + "/closed", kStranger, kStrangerGroup));
  // The /root/private case: an open directory inside a closed one is out of reach.
  make(root_ + "/closed/inner", 0755);
  EXPECT_FALSE(dirUsableBy(root_ + "/closed/inner", kStranger, kStrangerGroup));
  // Search (x) is what counts, not read.
  make(root_ + "/open/x-only", 0711);
  EXPECT_TRUE(dirUsableBy(root_ + "/open/x-only", kStranger, kStrangerGroup));
  make(root_ + "/open/r-only", 0744);
  EXPECT_FALSE(dirUsableBy(root_ + "/open/r-only", kStranger, kStrangerGroup));
}

TEST_F(DirAccessTest, OwnerBitsDecideForTheOwnerEvenWhenOthersMay) {
  make(root_ + "/d", 0077);
  EXPECT_FALSE(dirUsableBy(root_ + "/d", owner_, group_)) << "the kernel looks at the owner bits only";
  EXPECT_TRUE(dirUsableBy(root_ + "/d", kStranger, kStrangerGroup));
}

TEST_F(DirAccessTest, GroupBitsDecideForTheGroupEvenWhenOthersMay) {
  make(root_ + "/d", 0701);
  EXPECT_FALSE(dirUsableBy(root_ + "/d", kStranger, group_));
  EXPECT_TRUE(dirUsableBy(root_ + "/d", kStranger, kStrangerGroup));
  make(root_ + "/g", 0710);
  EXPECT_TRUE(dirUsableBy(root_ + "/g", kStranger, group_));
  EXPECT_FALSE(dirUsableBy(root_ + "/g", kStranger, kStrangerGroup));
}

TEST_F(DirAccessTest, SymbolicLinksAreJudgedByWhereTheyLead) {
  make(root_ + "/closed", 0700);
  make(root_ + "/closed/target", 0755);
  make(root_ + "/open", 0755);
  ASSERT_EQ(::symlink((root_ + "/closed/target").c_str(), (root_ + "/open/link").c_str()), 0);
  EXPECT_FALSE(dirUsableBy(root_ + "/open/link", kStranger, kStrangerGroup));
  ASSERT_EQ(::symlink("/tmp", (root_ + "/open/to-tmp").c_str()), 0);
  EXPECT_TRUE(dirUsableBy(root_ + "/open/to-tmp", kStranger, kStrangerGroup));
  // ".." is resolved, not taken for a name.
  EXPECT_FALSE(dirUsableBy(root_ + "/open/../closed/target", kStranger, kStrangerGroup));
  EXPECT_TRUE(dirUsableBy(root_ + "/closed/../open", kStranger, kStrangerGroup));
}

TEST_F(DirAccessTest, MissingPathsAndFilesAreNotUsable) {
  EXPECT_FALSE(dirUsableBy(root_ + "/nonexistent", 0, 0));
  EXPECT_FALSE(dirUsableBy("", 0, 0));
  EXPECT_FALSE(dirUsableBy(std::string("/tmp\0/x", 7), 0, 0));
  EXPECT_FALSE(dirUsableBy("/bin/sh", 0, 0));
  EXPECT_FALSE(dirUsableBy("relative/nowhere", 0, 0));
}

TEST_F(DirAccessTest, RootMayUseAnyDirectory) {
  make(root_ + "/closed", 0000);
  EXPECT_TRUE(dirUsableBy(root_ + "/closed", 0, 0));
  EXPECT_TRUE(dirUsableBy("/", kStranger, kStrangerGroup));
}

}  // namespace
}  // namespace rx
