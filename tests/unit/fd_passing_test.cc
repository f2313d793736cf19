// Bytes and descriptors over a Unix stream socket (daemon/fd_passing.h), on a real socketpair.
#include "daemon/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace rx {
namespace {

struct Pair {
  int fd[2] = {-1, -1};
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
  ~Pair() {
    for (int f : fd) ::close(f);
  }
};

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fd, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

TEST(FdPassing, DescriptorsArriveWithTheirBytesAndWork) {
  Pair s;
  Pipe a, b;
  ASSERT_EQ(sendWithFds(s.fd[0], "first", {a.fd[1], b.fd[1]}), 0);
  ASSERT_EQ(sendWithFds(s.fd[0], "second", {}), 0);
  std::deque<int> fds;
  std::string got;
  char buf[64];
  // Bounded: 11 bytes come in at most 11 reads.
  for (int i = 0; i < 11 && got.size() < 11; ++i) {
    const ssize_t n = receiveWithFds(s.fd[1], buf, sizeof buf, fds, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "firstsecond");
  ASSERT_EQ(fds.size(), 2u);
  // They are the pipes' write ends, in order, and close-on-exec.
  EXPECT_EQ(::write(fds[0], "A", 1), 1);
  EXPECT_EQ(::write(fds[1], "B", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(a.fd[0], &c, 1), 1);
  EXPECT_EQ(c, 'A');
  EXPECT_EQ(::read(b.fd[0], &c, 1), 1);
  EXPECT_EQ(c, 'B');
  for (int fd : fds) {
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ::close(fd);
  }
}

TEST(FdPassing, ALargeMessageIsSentWhole) {
  // More than a socket buffer: the sender blocks until the reader has taken the rest.
  Pair s;
  Pipe p;
  const std::string big(3 * 1024 * 1024, 'x');
  std::deque<int> fds;
  std::string got;
  std::thread reader([&] {
    std::string buf(64 * 1024, '\0');
    // Bounded: every read returns at least one byte until the end of file.
    for (size_t i = 0; i < big.size() + 1; ++i) {
      const ssize_t n = receiveWithFds(s.fd[1], buf.data(), buf.size(), fds, 0);
      if (n <= 0) break;
      got.append(buf.data(), static_cast<size_t>(n));
    }
  });
  EXPECT_EQ(sendWithFds(s.fd[0], big, {p.fd[1]}), 0);
  ::shutdown(s.fd[0], SHUT_WR);
  reader.join();
  EXPECT_EQ(got.size(), big.size());
  EXPECT_EQ(got, big);
  ASSERT_EQ(fds.size(), 1u);
  ::close(fds[0]);
}

TEST(FdPassing, DescriptorsNeedAByteToTravelWith) {
  Pair s;
  Pipe p;
  EXPECT_EQ(sendWithFds(s.fd[0], "", {p.fd[0]}), -EINVAL);
  EXPECT_EQ(sendWithFds(s.fd[0], "", {}), 0) << "nothing to send is no error";
}

TEST(FdPassing, MoreDescriptorsThanAReceiverTakesAreRefused) {
  Pair s;
  Pipe p;
  const std::vector<int> many(17, p.fd[0]);
  EXPECT_EQ(sendWithFds(s.fd[0], "x", many), -EINVAL);
}

TEST(FdPassing, AClosedPeerIsAnError) {
  Pair s;
  ::close(s.fd[1]);
  s.fd[1] = -1;
  EXPECT_EQ(sendWithFds(s.fd[0], "x", {}), -EPIPE);
}

TEST(FdPassing, EndOfFileReadsZero) {
  Pair s;
  ::shutdown(s.fd[0], SHUT_WR);
  std::deque<int> fds;
  char buf[4];
  EXPECT_EQ(receiveWithFds(s.fd[1], buf, sizeof buf, fds, 0), 0);
  EXPECT_EQ(receiveWithFds(s.fd[1], buf, sizeof buf, fds, MSG_DONTWAIT), 0);
  EXPECT_TRUE(fds.empty());
}

}  // namespace
}  // namespace rx
