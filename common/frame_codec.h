#pragma once
// Varint-length-delimited frames: [varint32 length][serialized rxpb.v1.Frame].
// Pure functions over bytes, no sockets, so every edge case is unit-testable.
#include <cstddef>
#include <string>
#include <string_view>

#include "common/limits.h"
#include "rexec.pb.h"

namespace rx {

enum class DecodeStatus {
  Frame,      // payload holds one complete frame; consumed covers prefix + payload
  NeedMore,   // not enough bytes yet; consumed is 0
  TooLarge,   // the declared length exceeds the limit (checked before any allocation)
  BadLength,  // the varint is longer than 5 bytes or does not fit in 32 bits
};

struct Decoded {
  DecodeStatus status;
  std::string_view payload;
  size_t consumed;
};

// Looks at the front of `in`; never consumes anything unless a whole frame is there.
Decoded decodeFrame(std::string_view in, size_t max_payload);

// Appends the length prefix and the serialized frame to `out` (so several frames batch into one
// write). Any message: rexecd and its spawn helper frame theirs the same way (proto/spawn.proto).
void appendFrame(std::string& out, const google::protobuf::MessageLite& frame);
std::string encodeFrame(const google::protobuf::MessageLite& frame);

// The bulk frames, encoded by hand straight from the caller's bytes: the same wire bytes as
// appendFrame() with a Frame holding Output / StdinData, without first copying `data` into a
// protobuf message (a 256 KiB copy and allocation per chunk on the stream path).
void appendOutputFrame(std::string& out, uint32_t exec_id, rxpb::v1::Stream stream, std::string_view data);
void appendStdinFrame(std::string& out, uint32_t exec_id, std::string_view data);
// Everything of appendOutputFrame() (appendStdinFrame()) but the data itself (at most kMaxDataFrameHeader
// bytes): for a sender that has the data elsewhere and writes the two back to back.
constexpr size_t kMaxDataFrameHeader = 5 + 1 + 5 + 1 + 5 + 1 + 5 + 1 + 5;
// Both senders cut their data into chunks of at most kMaxChunk, one frame each (rexecd's
// Session::onJobOutput, the client's ClientSession::sendStdin): such a frame must be one the
// receiver accepts.
static_assert(kMaxChunk + kMaxDataFrameHeader <= kMaxFramePostAuth, "a data frame must fit the frame limit");
void appendOutputFrameHeader(std::string& out, uint32_t exec_id, rxpb::v1::Stream stream, size_t data_size);
void appendStdinFrameHeader(std::string& out, uint32_t exec_id, size_t data_size);

// The front of `in` read as the start of an Output (or StdinData) frame in the shape
// appendOutputFrame() (appendStdinFrame()) writes: exec_id, then stream (Output only), then the
// data to the end of the frame. A receiver can then pass the data on as it arrives instead of
// first collecting the whole frame. Other: anything else (another frame type, another field
// order, no data, a bad length); the whole frame then goes through the protobuf parser as usual.
// NeedMore: `in` ends inside what could be such a header.
enum class DataPeek { Data, Other, NeedMore };
struct DataFrameHeader {
  size_t header_size = 0;  // bytes before the data
  size_t data_size = 0;
  uint32_t exec_id = 0;
  uint32_t stream = 0;  // Output only: as sent, possibly not a known Stream
};
DataPeek peekOutputFrameHeader(std::string_view in, size_t max_payload, DataFrameHeader& out);
DataPeek peekStdinFrameHeader(std::string_view in, size_t max_payload, DataFrameHeader& out);

// The number of bytes the whole frame at the front of `in` takes (length prefix included), once
// its length prefix is complete and valid; 0 before that or if it is not.
size_t frameSizeIfKnown(std::string_view in, size_t max_payload);

// Incremental decoder: feed() bytes as they arrive, then next() frames until it returns false.
class FrameDecoder {
 public:
  enum class Result { Frame, NeedMore, Error };

  explicit FrameDecoder(size_t max_payload) : max_payload_(max_payload) {}

  void feed(std::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  // Parses the next frame into `frame`. Error sets error() and stays in error.
  Result next(rxpb::v1::Frame& frame);
  // The same for frames of another message type (rexecd and its spawn helper, proto/spawn.proto),
  // without Frame's check for a known message in it.
  Result next(google::protobuf::MessageLite& message);
  void setMaxPayload(size_t max_payload) { max_payload_ = max_payload; }
  const std::string& error() const { return error_; }
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  // Takes what a parse at the front of the buffer consumed (on Frame); compacts on NeedMore.
  Result advance(Result r, size_t consumed);

  size_t max_payload_;
  std::string buffer_;
  size_t offset_ = 0;
  std::string error_;
};

// One whole frame at the front of `in`, parsed (as FrameDecoder::next() does, with the same
// errors): Frame sets `consumed`, Error sets `error`.
FrameDecoder::Result parseFrameAt(std::string_view in, size_t max_payload, rxpb::v1::Frame& frame,
                                  size_t& consumed, std::string& error);
// The same for any message: everything but Frame's check for a known message in it.
FrameDecoder::Result parseMessageAt(std::string_view in, size_t max_payload,
                                    google::protobuf::MessageLite& message, size_t& consumed,
                                    std::string& error);

}  // namespace rx
