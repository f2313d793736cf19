// The receive low-water mark (SO_RCVLOWAT inside a data frame) never asks the kernel to wait for
// more than the peer has left to send: a real TLS stream of real frames, pumped in memory and cut
// into reads of many sizes, checked after every read.
#include "common/receive_low_water.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/data_frame_reader.h"
#include "common/frame_codec.h"
#include "common/limits.h"
#include "tests/unit/tls_pair.h"

namespace rx {
namespace {

TEST(ReceiveLowWater, OneBetweenFramesAndCappedInsideOne) {
  EXPECT_EQ(receiveLowWater(0, 0), 1u);
  EXPECT_EQ(receiveLowWater(0, 16645), 1u);
  EXPECT_EQ(receiveLowWater(16645, 16645), 1u) << "all of it may already be held";
  EXPECT_EQ(receiveLowWater(16646, 16645), 1u);
  EXPECT_EQ(receiveLowWater(16700, 16645), 55u);
  EXPECT_EQ(receiveLowWater(kMaxChunk, 0), kMaxChunk);
  EXPECT_EQ(receiveLowWater(uint64_t{1} << 40, 16645), kMaxReceiveLowWater);
}

// Collects what a DataFrameReader passes on, as a session would.
struct CountingSink : DataFrameReader::Sink {
  bool reading() const override { return true; }
  size_t maxPayload() const override { return kMaxFramePostAuth; }
  bool streamingData() const override { return true; }
  bool onDataHeader(const DataFrameHeader&) override { return true; }
  void onData(std::string_view part, bool) override { data += part.size(); }
  void onFrame(rxpb::v1::Frame&) override { ++frames; }
  void onError(const std::string& e) override { errors += e; }
  uint64_t data = 0;
  int frames = 0;
  std::string errors;
};

// The server's side of a stream as rexecd writes it: each data frame's header and then its data,
// one TLS write each, then a small frame. The ciphertext, and where each frame's records end in
// it (no record holds bytes of two frames: each frame's output is taken before the next).
struct Wire {
  std::string bytes;
  std::vector<size_t> frame_ends;
  uint64_t data = 0;
};

Wire serverStream(TlsPair& p, bool output, const std::vector<size_t>& sizes) {
  Wire w;
  for (size_t size : sizes) {
    std::string header;
    if (output)
      appendOutputFrameHeader(header, 1, rxpb::v1::STREAM_STDOUT, size);
    else
      appendStdinFrameHeader(header, 1, size);
    EXPECT_TRUE(p.server->write(header));
    EXPECT_TRUE(p.server->write(std::string(size, 'x')));
    w.bytes += p.server->takeOutput();
    w.frame_ends.push_back(w.bytes.size());
    w.data += size;
  }
  rxpb::v1::Frame close;
  close.mutable_stdin_close()->set_exec_id(1);
  EXPECT_TRUE(p.server->write(encodeFrame(close)));
  w.bytes += p.server->takeOutput();
  return w;
}

TEST(ReceiveLowWater, NeverWaitsPastTheEndOfTheFrameBeingRead) {
  const std::vector<size_t> sizes = {kMaxChunk, 1, kMaxChunk - 3, 100000, 20000, 16000, kMaxChunk};
  for (bool output : {true, false}) {
    for (size_t read_size : {size_t{7}, size_t{4096}, size_t{65536}, size_t{200003}, size_t{1} << 20}) {
      SCOPED_TRACE((output ? "Output, reads of " : "StdinData, reads of ") + std::to_string(read_size));
      TlsPair p;
      ASSERT_TRUE(p.handshake());
      const Wire wire = serverStream(p, output, sizes);
      DataFrameReader reader(output ? peekOutputFrameHeader : peekStdinFrameHeader);
      CountingSink sink;
      size_t fed = 0;
      size_t marks_set = 0;
      while (fed < wire.bytes.size()) {
        const size_t n = std::min(read_size, wire.bytes.size() - fed);
        std::string plain;
        ASSERT_TRUE(p.client->feed(std::string_view(wire.bytes).substr(fed, n), plain));
        fed += n;
        reader.feed(plain, sink);
        const size_t mark = receiveLowWater(reader.dataLeft(), p.client->heldCiphertextBound());
        if (mark == 1) continue;
        ++marks_set;
        // The frame being read is the first one whose records are not all in; the kernel must
        // reach the mark with the rest of them alone, as nothing after them may be on its way.
        size_t frame_end = wire.bytes.size();
        for (size_t end : wire.frame_ends)
          if (end > fed) {
            frame_end = end;
            break;
          }
        ASSERT_LE(mark, frame_end - fed) << "after " << fed << " of " << wire.bytes.size() << " bytes";
      }
      EXPECT_EQ(sink.errors, "");
      EXPECT_EQ(sink.data, wire.data);
      EXPECT_EQ(sink.frames, 1);
      EXPECT_EQ(reader.dataLeft(), 0u);
      EXPECT_EQ(receiveLowWater(reader.dataLeft(), p.client->heldCiphertextBound()), 1u);
      if (read_size < 100000) {
        EXPECT_GT(marks_set, 0u) << "the big frames were waited for";
      }
    }
  }
}

TEST(ReceiveLowWater, SetsTheSocketOptionOnlyWhenItChanges) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ReceiveLowWater mark(fd);
  auto current = [fd] {
    int value = 0;
    socklen_t len = sizeof value;
    EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &value, &len), 0);
    return value;
  };
  EXPECT_EQ(current(), 1);
  mark.set(300000);
  EXPECT_EQ(current(), 300000);
  // Changed behind its back: an unchanged value is not set again.
  const int other = 5;
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &other, sizeof other), 0);
  mark.set(300000);
  EXPECT_EQ(current(), 5);
  mark.set(0);
  EXPECT_EQ(current(), 1) << "0 means the default, 1";
  close(fd);
}

}  // namespace
}  // namespace rx
