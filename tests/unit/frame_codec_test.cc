// decodeFrame and FrameDecoder: framing edge cases, limits and round trips.
#include "common/frame_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/limits.h"
#include "spawn.pb.h"

namespace rx {
namespace {

using rxpb::v1::Frame;

std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v);
  return out;
}

std::string bytes(std::initializer_list<uint8_t> list) {
  std::string out;
  for (uint8_t b : list) out.push_back(static_cast<char>(b));
  return out;
}

Frame errorFrame(const std::string& message) {
  Frame f;
  f.mutable_error()->set_message(message);
  return f;
}

// One frame of every type, each with some fields set.
std::vector<Frame> oneFrameOfEachType() {
  std::vector<Frame> frames;
  Frame f;

  f.mutable_auth_challenge()->set_protocol_version(1);
  f.mutable_auth_challenge()->set_features(7);
  f.mutable_auth_challenge()->set_server_nonce(std::string(32, '\x01'));
  frames.push_back(f);

  f.Clear();
  auto* resp = f.mutable_auth_response();
  resp->set_protocol_version(1);
  resp->set_features(3);
  resp->set_key_id("hmac-0123456789abcdef01234567");
  resp->set_client_nonce(std::string(32, '\x02'));
  resp->set_proof(std::string(32, '\x03'));
  frames.push_back(f);

  f.Clear();
  f.mutable_auth_result()->set_ok(true);
  f.mutable_auth_result()->set_server_proof(std::string(32, '\x04'));
  frames.push_back(f);

  f.Clear();
  auto* req = f.mutable_exec_request();
  req->set_exec_id(1);
  req->add_argv("echo");
  req->add_argv(std::string("a\0b", 3));
  req->set_cwd("/tmp");
  auto* env = req->add_env();
  env->set_name("LANG");
  env->set_value("C.UTF-8");
  req->set_stdin_open(true);
  req->set_timeout_ms(1500);
  frames.push_back(f);

  f.Clear();
  f.mutable_stdin_data()->set_exec_id(1);
  f.mutable_stdin_data()->set_data(std::string("\0\xff", 2));
  frames.push_back(f);

  f.Clear();
  f.mutable_stdin_close()->set_exec_id(1);
  frames.push_back(f);

  f.Clear();
  f.mutable_signal()->set_exec_id(1);
  f.mutable_signal()->set_name("INT");
  frames.push_back(f);

  f.Clear();
  f.mutable_output()->set_exec_id(1);
  f.mutable_output()->set_stream(rxpb::v1::STREAM_STDERR);
  f.mutable_output()->set_data("hello\n");
  frames.push_back(f);

  f.Clear();
  auto* res = f.mutable_exec_result();
  res->set_exec_id(1);
  res->mutable_signaled()->set_name("KILL");
  res->mutable_signaled()->set_number(9);
  res->set_stdout_bytes(10);
  res->set_stderr_bytes(20);
  res->set_wall_time_us(30);
  frames.push_back(f);

  frames.push_back(errorFrame("bad"));
  return frames;
}

TEST(DecodeFrame, OneFrameFedByteByByte) {
  const std::string wire = encodeFrame(errorFrame("hello"));
  for (size_t n = 0; n < wire.size(); ++n) {
    const Decoded d = decodeFrame(std::string_view(wire).substr(0, n), kMaxFramePreAuth);
    EXPECT_EQ(d.status, DecodeStatus::NeedMore) << "after " << n << " bytes";
    EXPECT_EQ(d.consumed, 0u) << "after " << n << " bytes";
  }
  const Decoded d = decodeFrame(wire, kMaxFramePreAuth);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.consumed, wire.size());
  EXPECT_EQ(d.payload, errorFrame("hello").SerializeAsString());
}

TEST(FrameDecoder, OneFrameFedByteByByte) {
  const std::string wire = encodeFrame(errorFrame("hello"));
  FrameDecoder decoder(kMaxFramePreAuth);
  Frame frame;
  for (size_t n = 0; n + 1 < wire.size(); ++n) {
    decoder.feed(wire.substr(n, 1));
    EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::NeedMore) << "after " << n + 1 << " bytes";
  }
  decoder.feed(wire.substr(wire.size() - 1));
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "hello");
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::NeedMore);
}

TEST(DecodeFrame, SeveralFramesInOneChunk) {
  std::string wire;
  appendFrame(wire, errorFrame("one"));
  appendFrame(wire, errorFrame("two"));
  appendFrame(wire, errorFrame("three"));
  std::string_view rest = wire;
  std::vector<std::string> messages;
  while (!rest.empty()) {
    const Decoded d = decodeFrame(rest, kMaxFramePreAuth);
    ASSERT_EQ(d.status, DecodeStatus::Frame);
    Frame f;
    ASSERT_TRUE(f.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size())));
    messages.push_back(f.error().message());
    rest.remove_prefix(d.consumed);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"one", "two", "three"}));
}

TEST(FrameDecoder, SeveralFramesInOneChunk) {
  std::string wire;
  appendFrame(wire, errorFrame("one"));
  appendFrame(wire, errorFrame("two"));
  appendFrame(wire, errorFrame("three"));
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(wire);
  Frame frame;
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "one");
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "two");
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "three");
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::NeedMore);
}

TEST(FrameDecoder, FrameSplitAcrossChunksAfterAWholeOne) {
  std::string wire;
  appendFrame(wire, errorFrame("first"));
  appendFrame(wire, errorFrame("second"));
  FrameDecoder decoder(kMaxFramePreAuth);
  const size_t cut = wire.size() - 3;
  decoder.feed(std::string_view(wire).substr(0, cut));
  Frame frame;
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "first");
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::NeedMore);
  decoder.feed(std::string_view(wire).substr(cut));
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.error().message(), "second");
}

TEST(DecodeFrame, TruncatedFrameConsumesNothing) {
  const std::string wire = encodeFrame(errorFrame("truncated"));
  const Decoded d = decodeFrame(std::string_view(wire).substr(0, wire.size() - 1), kMaxFramePreAuth);
  EXPECT_EQ(d.status, DecodeStatus::NeedMore);
  EXPECT_EQ(d.consumed, 0u);
  EXPECT_TRUE(d.payload.empty());
}

TEST(DecodeFrame, EmptyInputNeedsMore) {
  const Decoded d = decodeFrame("", kMaxFramePreAuth);
  EXPECT_EQ(d.status, DecodeStatus::NeedMore);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, PrefixAtTheLimitWaitsForThePayload) {
  const Decoded d = decodeFrame(varint(kMaxFramePreAuth), kMaxFramePreAuth);
  EXPECT_EQ(d.status, DecodeStatus::NeedMore);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, PrefixOneOverTheLimitIsTooLargeBeforeThePayload) {
  const Decoded d = decodeFrame(varint(kMaxFramePreAuth + 1), kMaxFramePreAuth);
  EXPECT_EQ(d.status, DecodeStatus::TooLarge);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, PayloadExactlyAtTheLimitIsAFrame) {
  const std::string payload(kMaxFramePreAuth, 'x');
  const std::string wire = varint(payload.size()) + payload;
  const Decoded d = decodeFrame(wire, kMaxFramePreAuth);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.payload.size(), kMaxFramePreAuth);
  EXPECT_EQ(d.consumed, wire.size());
}

TEST(DecodeFrame, PayloadOneOverTheLimitIsTooLarge) {
  const std::string payload(kMaxFramePreAuth + 1, 'x');
  const Decoded d = decodeFrame(varint(payload.size()) + payload, kMaxFramePreAuth);
  EXPECT_EQ(d.status, DecodeStatus::TooLarge);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, MaximalFiveBytePrefixIsTooLarge) {
  const std::string prefix = bytes({0xff, 0xff, 0xff, 0xff, 0x0f});  // 2^32 - 1
  EXPECT_EQ(decodeFrame(prefix, kMaxFramePreAuth).status, DecodeStatus::TooLarge);
  EXPECT_EQ(decodeFrame(prefix, kMaxFramePostAuth).status, DecodeStatus::TooLarge);
  EXPECT_EQ(decodeFrame(prefix, 0).status, DecodeStatus::TooLarge);
}

TEST(DecodeFrame, SixByteVarintIsBadLength) {
  const Decoded d = decodeFrame(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), kMaxFramePostAuth);
  EXPECT_EQ(d.status, DecodeStatus::BadLength);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, FiveContinuationBytesAreBadLengthWithoutWaiting) {
  EXPECT_EQ(decodeFrame(bytes({0x80, 0x80, 0x80, 0x80, 0x80}), kMaxFramePostAuth).status,
            DecodeStatus::BadLength);
}

TEST(DecodeFrame, FiveByteVarintAbove32BitsIsBadLength) {
  const Decoded d = decodeFrame(bytes({0xff, 0xff, 0xff, 0xff, 0x7f}), kMaxFramePostAuth);
  EXPECT_EQ(d.status, DecodeStatus::BadLength);
  EXPECT_EQ(d.consumed, 0u);
}

TEST(DecodeFrame, IncompleteVarintNeedsMore) {
  EXPECT_EQ(decodeFrame(bytes({0xff, 0xff}), kMaxFramePostAuth).status, DecodeStatus::NeedMore);
}

TEST(FrameDecoder, GarbagePayloadIsAnError) {
  // Field 1 with wire type 7 does not exist in protobuf.
  const std::string payload = bytes({0x0f, 0xff, 0xff, 0xff});
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(varint(payload.size()) + payload);
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_FALSE(decoder.error().empty());
}

TEST(FrameDecoder, EmptyPayloadIsAnError) {
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(bytes({0x00}));
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_FALSE(decoder.error().empty());
}

TEST(FrameDecoder, UnknownFieldOnlyIsAnError) {
  // Field 99, varint 1: parses, but sets no known message type.
  const std::string payload = bytes({0x98, 0x06, 0x01});
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(varint(payload.size()) + payload);
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
}

TEST(FrameDecoder, OtherMessagesDecodeWithTheSameFramingAndLimits) {
  // rexecd and its spawn helper (proto/spawn.proto): any message, framed as a Frame is, split
  // across feeds; the length limit holds as for frames.
  rxpb::v1::SpawnExit exit;
  exit.set_id(7);
  exit.set_exit_status(3);
  rxpb::v1::SpawnReply reply;
  reply.set_id(8);
  reply.set_pid(1234);
  const std::string wire = encodeFrame(exit) + encodeFrame(reply);
  FrameDecoder decoder(64);
  decoder.feed(wire.substr(0, 3));
  rxpb::v1::SpawnExit got_exit;
  EXPECT_EQ(decoder.next(got_exit), FrameDecoder::Result::NeedMore);
  decoder.feed(wire.substr(3));
  ASSERT_EQ(decoder.next(got_exit), FrameDecoder::Result::Frame);
  EXPECT_EQ(got_exit.id(), 7u);
  EXPECT_EQ(got_exit.exit_status(), 3);
  rxpb::v1::SpawnReply got_reply;
  ASSERT_EQ(decoder.next(got_reply), FrameDecoder::Result::Frame);
  EXPECT_EQ(got_reply.pid(), 1234);
  EXPECT_EQ(decoder.buffered(), 0u);

  FrameDecoder small(4);
  small.feed(encodeFrame(reply));
  EXPECT_EQ(small.next(got_reply), FrameDecoder::Result::Error);
  EXPECT_NE(small.error().find("limit"), std::string::npos) << small.error();
}

TEST(FrameDecoder, TooLargeIsAnError) {
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(bytes({0xff, 0xff, 0xff, 0xff, 0x0f}));
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_NE(decoder.error().find("limit"), std::string::npos) << decoder.error();
}

TEST(FrameDecoder, BadLengthIsAnError) {
  FrameDecoder decoder(kMaxFramePostAuth);
  decoder.feed(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_FALSE(decoder.error().empty());
}

TEST(FrameDecoder, StaysInErrorOnceInError) {
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(bytes({0x00}));
  Frame frame;
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  const std::string first_error = decoder.error();
  decoder.feed(encodeFrame(errorFrame("valid")));
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
  EXPECT_EQ(decoder.error(), first_error);
}

TEST(FrameCodec, RoundTripOfEveryFrameType) {
  const std::vector<Frame> frames = oneFrameOfEachType();
  ASSERT_EQ(frames.size(), 10u);  // one per member of Frame.msg
  std::string wire;
  for (const Frame& f : frames) appendFrame(wire, f);
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(wire);
  for (const Frame& expected : frames) {
    Frame got;
    ASSERT_EQ(decoder.next(got), FrameDecoder::Result::Frame) << decoder.error();
    EXPECT_EQ(got.msg_case(), expected.msg_case());
    EXPECT_EQ(got.SerializeAsString(), expected.SerializeAsString()) << "type " << expected.msg_case();
  }
  Frame none;
  EXPECT_EQ(decoder.next(none), FrameDecoder::Result::NeedMore);
}

TEST(FrameCodec, EncodeFrameMatchesAppendFrame) {
  const Frame f = errorFrame("same bytes");
  std::string appended = "prefix";
  appendFrame(appended, f);
  EXPECT_EQ(appended, "prefix" + encodeFrame(f));
  EXPECT_EQ(encodeFrame(f), varint(f.ByteSizeLong()) + f.SerializeAsString());
}

TEST(FrameCodec, HandEncodedDataFramesMatchProtobuf) {
  // Sizes around the varint steps, and the zero values proto3 leaves out.
  for (const size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{127}, size_t{128}, size_t{16383},
                            size_t{16384}, size_t{256 * 1024}}) {
    for (const uint32_t id : {0u, 1u, 127u, 128u, 0xffffffffu}) {
      const std::string data(size, 'd');
      for (const auto stream : {rxpb::v1::STREAM_STDOUT, rxpb::v1::STREAM_STDERR}) {
        Frame f;
        f.mutable_output()->set_exec_id(id);
        f.mutable_output()->set_stream(stream);
        f.mutable_output()->set_data(data);
        std::string wire = "prefix";
        appendOutputFrame(wire, id, stream, data);
        EXPECT_EQ(wire, "prefix" + encodeFrame(f)) << "output size " << size << " id " << id;
        // The header alone, with the data sent after it, makes the same bytes.
        std::string header = "prefix";
        appendOutputFrameHeader(header, id, stream, data.size());
        EXPECT_LE(header.size() - 6, kMaxDataFrameHeader);
        EXPECT_EQ(header + data, wire) << "header for size " << size << " id " << id;
      }
      Frame f;
      f.mutable_stdin_data()->set_exec_id(id);
      f.mutable_stdin_data()->set_data(data);
      std::string wire;
      appendStdinFrame(wire, id, data);
      EXPECT_EQ(wire, encodeFrame(f)) << "stdin size " << size << " id " << id;
      std::string header;
      appendStdinFrameHeader(header, id, data.size());
      EXPECT_LE(header.size(), kMaxDataFrameHeader);
      EXPECT_EQ(header + data, wire) << "stdin header for size " << size << " id " << id;
    }
  }
}

TEST(FrameCodec, MultiByteLengthPrefixRoundTrip) {
  Frame f;
  f.mutable_output()->set_exec_id(1);
  f.mutable_output()->set_data(std::string(300, 'z'));  // needs a 2-byte varint
  const std::string wire = encodeFrame(f);
  const Decoded d = decodeFrame(wire, kMaxFramePreAuth);
  ASSERT_EQ(d.status, DecodeStatus::Frame);
  EXPECT_EQ(d.consumed, wire.size());
  EXPECT_EQ(d.payload, f.SerializeAsString());
}

Frame outputFrame(size_t data_size) {
  Frame f;
  f.mutable_output()->set_exec_id(1);
  f.mutable_output()->set_data(std::string(data_size, 'o'));
  return f;
}

TEST(FrameDecoder, PreAuthLimitRefusesAFramePostAuthAccepts) {
  const std::string wire = encodeFrame(outputFrame(kMaxFramePreAuth + 100));
  FrameDecoder pre(kMaxFramePreAuth);
  pre.feed(wire);
  Frame frame;
  EXPECT_EQ(pre.next(frame), FrameDecoder::Result::Error);

  FrameDecoder post(kMaxFramePreAuth);
  post.setMaxPayload(kMaxFramePostAuth);
  post.feed(wire);
  ASSERT_EQ(post.next(frame), FrameDecoder::Result::Frame);
  EXPECT_EQ(frame.output().data().size(), kMaxFramePreAuth + 100);
}

TEST(FrameDecoder, SetMaxPayloadAppliesToBufferedBytes) {
  // Like the daemon: a small frame under the pre-auth limit, then a large one in the same chunk;
  // the limit is raised between the two.
  std::string wire = encodeFrame(errorFrame("auth"));
  appendFrame(wire, outputFrame(kMaxFramePreAuth * 4));
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.feed(wire);
  Frame frame;
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame);
  decoder.setMaxPayload(kMaxFramePostAuth);
  ASSERT_EQ(decoder.next(frame), FrameDecoder::Result::Frame) << decoder.error();
  EXPECT_EQ(frame.output().data().size(), kMaxFramePreAuth * 4);
}

TEST(FrameDecoder, PostAuthLimitStillApplies) {
  FrameDecoder decoder(kMaxFramePreAuth);
  decoder.setMaxPayload(kMaxFramePostAuth);
  decoder.feed(varint(kMaxFramePostAuth + 1));
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::Error);
}

TEST(FrameDecoder, PostAuthLimitExactlyIsAccepted) {
  FrameDecoder decoder(kMaxFramePostAuth);
  decoder.feed(varint(kMaxFramePostAuth));
  Frame frame;
  EXPECT_EQ(decoder.next(frame), FrameDecoder::Result::NeedMore);
  EXPECT_TRUE(decoder.error().empty());
}

TEST(FrameCodec, PeekFindsTheHeaderOfEveryHandEncodedOutputFrame) {
  for (const size_t size : {size_t{1}, size_t{127}, size_t{128}, size_t{16384}, size_t{256 * 1024}}) {
    for (const uint32_t id : {0u, 1u, 300u, 0xffffffffu}) {
      for (const auto stream : {rxpb::v1::STREAM_STDOUT, rxpb::v1::STREAM_STDERR}) {
        std::string wire;
        appendOutputFrame(wire, id, stream, std::string(size, 'd'));
        std::string header;
        appendOutputFrameHeader(header, id, stream, size);
        DataFrameHeader h;
        ASSERT_EQ(peekOutputFrameHeader(wire, kMaxFramePostAuth, h), DataPeek::Data);
        EXPECT_EQ(h.header_size, header.size());
        EXPECT_EQ(h.data_size, size);
        EXPECT_EQ(h.exec_id, id);
        EXPECT_EQ(h.stream, static_cast<uint32_t>(stream));
        EXPECT_EQ(frameSizeIfKnown(wire, kMaxFramePostAuth), wire.size());
        // Every cut inside the header needs more; the header alone is enough.
        for (size_t cut = 0; cut < header.size(); ++cut)
          EXPECT_EQ(peekOutputFrameHeader(std::string_view(wire).substr(0, cut), kMaxFramePostAuth, h),
                    DataPeek::NeedMore)
              << "cut " << cut;
        EXPECT_EQ(peekOutputFrameHeader(header, kMaxFramePostAuth, h), DataPeek::Data);
      }
    }
  }
}

TEST(FrameCodec, PeekLeavesEverythingElseToTheParser) {
  DataFrameHeader h;
  // Another frame type.
  EXPECT_EQ(peekOutputFrameHeader(encodeFrame(errorFrame("no")), kMaxFramePostAuth, h), DataPeek::Other);
  // An Output with empty data (proto3 writes no data field).
  Frame empty;
  empty.mutable_output()->set_exec_id(1);
  empty.mutable_output()->set_stream(rxpb::v1::STREAM_STDOUT);
  EXPECT_EQ(peekOutputFrameHeader(encodeFrame(empty), kMaxFramePostAuth, h), DataPeek::Other);
  // Fields in another order, or something after the data.
  const std::string data_first = std::string("\x42\x06\x1a\x02ok\x08\x01", 8);
  EXPECT_EQ(peekOutputFrameHeader(varint(data_first.size()) + data_first, kMaxFramePostAuth, h),
            DataPeek::Other);
  const std::string data_then_id = std::string("\x42\x07\x08\x01\x1a\x01o\x08\x01", 9);
  EXPECT_EQ(peekOutputFrameHeader(varint(data_then_id.size()) + data_then_id, kMaxFramePostAuth, h),
            DataPeek::Other);
  // Too large, and a length prefix that never ends.
  std::string wire;
  appendOutputFrame(wire, 1, rxpb::v1::STREAM_STDOUT, std::string(100, 'd'));
  EXPECT_EQ(peekOutputFrameHeader(wire, 50, h), DataPeek::Other);
  EXPECT_EQ(frameSizeIfKnown(wire, 50), 0u);
  EXPECT_EQ(peekOutputFrameHeader(std::string(6, '\xff'), kMaxFramePostAuth, h), DataPeek::Other);
  EXPECT_EQ(frameSizeIfKnown(std::string(6, '\xff'), kMaxFramePostAuth), 0u);
  EXPECT_EQ(frameSizeIfKnown(std::string(2, '\xff'), kMaxFramePostAuth), 0u);
}

TEST(FrameCodec, PeekFindsTheHeaderOfEveryStdinFrameAndMatchesTheParser) {
  for (const size_t size : {size_t{1}, size_t{127}, size_t{128}, size_t{16384}, size_t{512 * 1024}}) {
    for (const uint32_t id : {0u, 1u, 300u, 0xffffffffu}) {
      std::string wire;
      appendStdinFrame(wire, id, std::string(size, 'i'));
      Frame f;
      f.mutable_stdin_data()->set_exec_id(id);
      f.mutable_stdin_data()->set_data(std::string(size, 'i'));
      ASSERT_EQ(wire, encodeFrame(f));
      DataFrameHeader h;
      ASSERT_EQ(peekStdinFrameHeader(wire, kMaxFramePostAuth, h), DataPeek::Data);
      EXPECT_EQ(h.header_size, wire.size() - size);
      EXPECT_EQ(h.data_size, size);
      EXPECT_EQ(h.exec_id, id);
      for (size_t cut = 0; cut < h.header_size; ++cut)
        EXPECT_EQ(peekStdinFrameHeader(std::string_view(wire).substr(0, cut), kMaxFramePostAuth, h),
                  DataPeek::NeedMore)
            << "cut " << cut;
      // An Output frame is not a StdinData frame, nor the other way round.
      EXPECT_EQ(peekOutputFrameHeader(wire, kMaxFramePostAuth, h), DataPeek::Other);
      std::string output;
      appendOutputFrame(output, id, rxpb::v1::STREAM_STDOUT, std::string(size, 'o'));
      EXPECT_EQ(peekStdinFrameHeader(output, kMaxFramePostAuth, h), DataPeek::Other);
    }
  }
  DataFrameHeader h;
  Frame empty;
  empty.mutable_stdin_data()->set_exec_id(1);
  EXPECT_EQ(peekStdinFrameHeader(encodeFrame(empty), kMaxFramePostAuth, h), DataPeek::Other);
  // StdinData { data = "ok"; exec_id = 1 }: another field order.
  const std::string data_first = std::string("\x2a\x06\x12\x02ok\x08\x01", 8);
  EXPECT_EQ(peekStdinFrameHeader(varint(data_first.size()) + data_first, kMaxFramePostAuth, h),
            DataPeek::Other);
}

}  // namespace
}  // namespace rx
