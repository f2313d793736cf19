// libFuzzer target: the frame codec (rx::decodeFrame and rx::FrameDecoder) on arbitrary bytes.
// THREATS.md rows 9 and 10.
//
// The whole input goes to decodeFrame with the pre-auth and the post-auth limit; then the input,
// cut into chunks whose sizes FuzzedDataProvider takes from its tail, goes to a FrameDecoder,
// whose frames must be exactly those of a decoder fed everything at once and those of a walk
// with decodeFrame. The Output and StdinData header peeks must agree with the parser.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/frame_codec.h"
#include "common/limits.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_logs.h"

namespace rx {
namespace {

using rxpb::v1::Frame;

// decodeFrame's contract, for one call.
Decoded checkedDecode(std::string_view in, size_t max_payload) {
  const Decoded d = decodeFrame(in, max_payload);
  switch (d.status) {
    case DecodeStatus::Frame: {
      RX_FUZZ_CHECK(d.consumed <= in.size());
      RX_FUZZ_CHECK(d.payload.size() <= max_payload);
      RX_FUZZ_CHECK(d.consumed > d.payload.size());
      const size_t header = d.consumed - d.payload.size();
      RX_FUZZ_CHECK(header >= 1 && header <= 5);  // at most 5 varint bytes
      RX_FUZZ_CHECK(d.payload.data() == in.data() + header);
      break;
    }
    case DecodeStatus::NeedMore:
    case DecodeStatus::TooLarge:
    case DecodeStatus::BadLength:
      RX_FUZZ_CHECK(d.consumed == 0);  // nothing is consumed unless a whole frame is there
      RX_FUZZ_CHECK(d.payload.empty());
      break;
  }
  return d;
}

// A frame that parses encodes again into bytes that decode to an equal frame.
void checkReencoding(std::string_view payload) {
  Frame f;
  if (!f.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return;
  const std::string serialized = f.SerializeAsString();
  const std::string bytes = encodeFrame(f);
  // No limit here: a re-encoding may be longer than the original (a negative int32 sent as a
  // 5-byte varint is sign-extended to 10 bytes when serialized again).
  const Decoded d = checkedDecode(bytes, std::numeric_limits<uint32_t>::max());
  RX_FUZZ_CHECK(d.status == DecodeStatus::Frame);
  RX_FUZZ_CHECK(d.consumed == bytes.size());
  RX_FUZZ_CHECK(d.payload == serialized);
  Frame again;
  RX_FUZZ_CHECK(again.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size())));
  RX_FUZZ_CHECK(again.SerializeAsString() == serialized);
  RX_FUZZ_CHECK(again.msg_case() == f.msg_case());
}

// The data-frame peeks (the streamed receive paths of rexec and rexecd) against the parser: a
// header they accept is that of a whole frame that parses to the same message, exec id and data
// size; "need more" only where the frame is not all there.
void checkPeek(std::string_view in, bool stdin_frame) {
  DataFrameHeader h;
  const DataPeek p = stdin_frame ? peekStdinFrameHeader(in, kMaxFramePostAuth, h)
                                 : peekOutputFrameHeader(in, kMaxFramePostAuth, h);
  const Decoded d = decodeFrame(in, kMaxFramePostAuth);
  if (p == DataPeek::NeedMore) RX_FUZZ_CHECK(d.status == DecodeStatus::NeedMore);
  if (p != DataPeek::Data) return;
  RX_FUZZ_CHECK(h.data_size > 0 && h.header_size <= kMaxDataFrameHeader);
  const size_t frame_size = h.header_size + h.data_size;
  RX_FUZZ_CHECK(frameSizeIfKnown(in, kMaxFramePostAuth) == frame_size);
  if (d.status == DecodeStatus::NeedMore) {
    RX_FUZZ_CHECK(in.size() < frame_size);
    return;
  }
  RX_FUZZ_CHECK(d.status == DecodeStatus::Frame && d.consumed == frame_size);
  Frame f;
  RX_FUZZ_CHECK(f.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size())));
  if (stdin_frame) {
    RX_FUZZ_CHECK(f.has_stdin_data());
    RX_FUZZ_CHECK(f.stdin_data().exec_id() == h.exec_id);
    RX_FUZZ_CHECK(f.stdin_data().data() == in.substr(h.header_size, h.data_size));
  } else {
    RX_FUZZ_CHECK(f.has_output());
    RX_FUZZ_CHECK(f.output().exec_id() == h.exec_id);
    RX_FUZZ_CHECK(static_cast<uint32_t>(f.output().stream()) == h.stream);
    RX_FUZZ_CHECK(f.output().data() == in.substr(h.header_size, h.data_size));
  }
}

// What a decoder produced: each frame serialized, then whether it stopped on an error.
struct Outcome {
  std::vector<std::string> frames;
  bool error = false;
  std::string message;
  bool operator==(const Outcome&) const = default;
};

// Takes frames out of `decoder` until it needs more or fails.
void drain(FrameDecoder& decoder, Outcome& out) {
  Frame f;
  while (!out.error) {
    const size_t before = decoder.buffered();
    const auto r = decoder.next(f);
    if (r == FrameDecoder::Result::NeedMore) {
      RX_FUZZ_CHECK(decoder.buffered() == before);
      RX_FUZZ_CHECK(decoder.error().empty());
      return;
    }
    if (r == FrameDecoder::Result::Error) {
      RX_FUZZ_CHECK(!decoder.error().empty());
      RX_FUZZ_CHECK(decoder.next(f) == FrameDecoder::Result::Error);  // the error sticks
      out.error = true;
      out.message = decoder.error();
      return;
    }
    RX_FUZZ_CHECK(f.msg_case() != Frame::MSG_NOT_SET);
    RX_FUZZ_CHECK(decoder.buffered() < before);
    out.frames.push_back(f.SerializeAsString());
  }
}

// The same stream walked with decodeFrame, parsing each payload the way FrameDecoder does.
Outcome walk(std::string_view stream, size_t max_payload) {
  Outcome out;
  for (;;) {
    const Decoded d = checkedDecode(stream, max_payload);
    if (d.status == DecodeStatus::NeedMore) return out;
    if (d.status != DecodeStatus::Frame) {
      out.error = true;
      return out;
    }
    Frame f;
    if (!f.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size())) ||
        f.msg_case() == Frame::MSG_NOT_SET) {
      out.error = true;
      return out;
    }
    checkReencoding(d.payload);
    out.frames.push_back(f.SerializeAsString());
    stream.remove_prefix(d.consumed);
  }
}

}  // namespace
}  // namespace rx

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rx::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rx::DecodeStatus;
  const std::string_view all(reinterpret_cast<const char*>(data), size);

  const rx::Decoded pre = rx::checkedDecode(all, rx::kMaxFramePreAuth);
  const rx::Decoded post = rx::checkedDecode(all, rx::kMaxFramePostAuth);
  // The limit changes only the answer for lengths between the two limits.
  if (pre.status == DecodeStatus::Frame) {
    RX_FUZZ_CHECK(post.status == DecodeStatus::Frame);
    RX_FUZZ_CHECK(post.consumed == pre.consumed && post.payload.data() == pre.payload.data());
  }
  if (pre.status == DecodeStatus::NeedMore || pre.status == DecodeStatus::BadLength)
    RX_FUZZ_CHECK(post.status == pre.status);
  if (post.status == DecodeStatus::TooLarge) RX_FUZZ_CHECK(pre.status == DecodeStatus::TooLarge);
  if (pre.status == DecodeStatus::TooLarge && post.status == DecodeStatus::Frame)
    RX_FUZZ_CHECK(post.payload.size() > rx::kMaxFramePreAuth);
  if (post.status == DecodeStatus::Frame) rx::checkReencoding(post.payload);
  rx::checkPeek(all, true);
  rx::checkPeek(all, false);

  FuzzedDataProvider fdp(data, size);
  const size_t limit = fdp.ConsumeBool() ? rx::kMaxFramePreAuth : rx::kMaxFramePostAuth;
  std::string stream;
  rx::FrameDecoder chunked(limit);
  rx::Outcome chunked_out;
  while (fdp.remaining_bytes() > 0) {
    const size_t n = fdp.ConsumeIntegralInRange<size_t>(0, fdp.remaining_bytes());
    const std::string chunk = fdp.ConsumeBytesAsString(n);
    stream += chunk;
    if (chunked_out.error) continue;
    chunked.feed(chunk);
    rx::drain(chunked, chunked_out);
  }

  rx::FrameDecoder whole(limit);
  whole.feed(stream);
  rx::Outcome whole_out;
  rx::drain(whole, whole_out);
  // How the bytes were cut never changes what comes out.
  RX_FUZZ_CHECK(chunked_out == whole_out);

  rx::Outcome walked = rx::walk(stream, limit);
  RX_FUZZ_CHECK(walked.frames == whole_out.frames);
  RX_FUZZ_CHECK(walked.error == whole_out.error);
  return 0;
}
