#include "common/frame_codec.h"

#include <fmt/format.h>

namespace rx {

namespace {

enum class VarintRead { Ok, NeedMore, Bad };

// A varint of at most 32 bits at in[pos] (so at most 5 bytes, the fifth with only 4 significant
// bits); advances pos. The one varint reader of the decoding side: frame lengths and the fields
// of a data frame's header.
VarintRead readVarint32(std::string_view in, size_t& pos, uint64_t& value) {
  value = 0;
  for (size_t i = 0; i < 5; ++i) {
    if (pos + i >= in.size()) return VarintRead::NeedMore;
    const auto byte = static_cast<uint8_t>(in[pos + i]);
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      pos += i + 1;
      return value > 0xffffffffULL ? VarintRead::Bad : VarintRead::Ok;
    }
  }
  return VarintRead::Bad;
}

}  // namespace

Decoded decodeFrame(std::string_view in, size_t max_payload) {
  size_t header = 0;
  uint64_t length = 0;
  switch (readVarint32(in, header, length)) {
    case VarintRead::NeedMore:
      return {DecodeStatus::NeedMore, {}, 0};
    case VarintRead::Bad:
      return {DecodeStatus::BadLength, {}, 0};
    case VarintRead::Ok:
      break;
  }
  if (length > max_payload) return {DecodeStatus::TooLarge, {}, 0};
  if (in.size() - header < length) return {DecodeStatus::NeedMore, {}, 0};
  return {DecodeStatus::Frame, in.substr(header, length), header + length};
}

namespace {

void appendVarint(std::string& out, uint64_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v);
}

size_t varintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Protobuf wire types: 0 varint, 2 length-delimited.
constexpr uint8_t tag(int field, int wire_type) { return static_cast<uint8_t>(field << 3 | wire_type); }

// Frame { <frame_field> { exec_id = 1; [stream = 2;] <data_field> = data } }, with proto3's
// rule that fields at their default value (0, empty) are not written: everything but the data.
void appendDataFrameHeader(std::string& out, int frame_field, uint32_t exec_id, uint32_t stream,
                           int data_field, size_t data_size) {
  size_t inner = 0;
  if (exec_id != 0) inner += 1 + varintSize(exec_id);
  if (stream != 0) inner += 1 + varintSize(stream);
  if (data_size != 0) inner += 1 + varintSize(data_size) + data_size;
  const size_t frame = 1 + varintSize(inner) + inner;
  appendVarint(out, frame);
  out.push_back(static_cast<char>(tag(frame_field, 2)));
  appendVarint(out, inner);
  if (exec_id != 0) {
    out.push_back(static_cast<char>(tag(1, 0)));
    appendVarint(out, exec_id);
  }
  if (stream != 0) {
    out.push_back(static_cast<char>(tag(2, 0)));
    appendVarint(out, stream);
  }
  if (data_size != 0) {
    out.push_back(static_cast<char>(tag(data_field, 2)));
    appendVarint(out, data_size);
  }
}

void appendDataFrame(std::string& out, int frame_field, uint32_t exec_id, uint32_t stream, int data_field,
                     std::string_view data) {
  out.reserve(out.size() + kMaxDataFrameHeader + data.size());
  appendDataFrameHeader(out, frame_field, exec_id, stream, data_field, data.size());
  out.append(data);
}

}  // namespace

void appendOutputFrame(std::string& out, uint32_t exec_id, rxpb::v1::Stream stream, std::string_view data) {
  appendDataFrame(out, rxpb::v1::Frame::kOutputFieldNumber, exec_id, static_cast<uint32_t>(stream),
                  rxpb::v1::Output::kDataFieldNumber, data);
}

void appendOutputFrameHeader(std::string& out, uint32_t exec_id, rxpb::v1::Stream stream, size_t data_size) {
  appendDataFrameHeader(out, rxpb::v1::Frame::kOutputFieldNumber, exec_id, static_cast<uint32_t>(stream),
                        rxpb::v1::Output::kDataFieldNumber, data_size);
}

void appendStdinFrameHeader(std::string& out, uint32_t exec_id, size_t data_size) {
  appendDataFrameHeader(out, rxpb::v1::Frame::kStdinDataFieldNumber, exec_id, 0,
                        rxpb::v1::StdinData::kDataFieldNumber, data_size);
}

void appendStdinFrame(std::string& out, uint32_t exec_id, std::string_view data) {
  appendDataFrame(out, rxpb::v1::Frame::kStdinDataFieldNumber, exec_id, 0,
                  rxpb::v1::StdinData::kDataFieldNumber, data);
}

void appendFrame(std::string& out, const google::protobuf::MessageLite& frame) {
  const size_t size = frame.ByteSizeLong();
  appendVarint(out, size);
  const size_t start = out.size();
  out.resize(start + size);
  frame.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + start));
}

std::string encodeFrame(const google::protobuf::MessageLite& frame) {
  std::string out;
  appendFrame(out, frame);
  return out;
}

size_t frameSizeIfKnown(std::string_view in, size_t max_payload) {
  size_t pos = 0;
  uint64_t length = 0;
  if (readVarint32(in, pos, length) != VarintRead::Ok || length > max_payload) return 0;
  return pos + length;
}

namespace {

// Reads a header field by field; a step that fails leaves why in `status`: NeedMore if the
// input ends inside it, Other if it is not what appendDataFrameHeader() writes.
struct HeaderReader {
  std::string_view in;
  size_t pos = 0;
  DataPeek status = DataPeek::Other;
  // Running out of `in` means NeedMore only while `in` ends before the frame does.
  bool truncated = true;

  bool varint(uint64_t& value) {
    switch (readVarint32(in, pos, value)) {
      case VarintRead::Ok:
        return true;
      case VarintRead::NeedMore:
        status = truncated ? DataPeek::NeedMore : DataPeek::Other;
        return false;
      case VarintRead::Bad:
        break;
    }
    status = DataPeek::Other;
    return false;
  }
  // Whether the next byte is `t` (and then past it); false with NeedMore at the end.
  bool nextIs(uint8_t t, bool& ended) {
    ended = pos == in.size();
    if (ended) status = truncated ? DataPeek::NeedMore : DataPeek::Other;
    if (ended || static_cast<uint8_t>(in[pos]) != t) return false;
    ++pos;
    return true;
  }
};

// Frame { <frame_field> { exec_id = 1; [stream = 2;] <data_field> = data } } at the front of `in`
// (stream_field 0: the message has none), read as appendDataFrameHeader() writes it.
DataPeek peekDataFrameHeader(std::string_view in, size_t max_payload, int frame_field, int stream_field,
                             int data_field, DataFrameHeader& out) {
  HeaderReader r{in};
  bool ended = false;
  uint64_t frame = 0, inner = 0, value = 0;
  if (!r.varint(frame)) return r.status;
  if (frame > max_payload) return DataPeek::Other;
  const size_t frame_end = r.pos + frame;
  // Only this frame's bytes count: a field cut by the frame's end is not one to wait for.
  r.truncated = in.size() < frame_end;
  r.in = in.substr(0, frame_end);
  if (!r.nextIs(tag(frame_field, 2), ended)) return ended ? r.status : DataPeek::Other;
  if (!r.varint(inner)) return r.status;
  if (r.pos + inner != frame_end) return DataPeek::Other;  // the message must be all of the frame
  DataFrameHeader h;
  if (r.nextIs(tag(1, 0), ended)) {
    if (!r.varint(value)) return r.status;
    h.exec_id = static_cast<uint32_t>(value);
  } else if (ended) {
    return r.status;
  }
  if (stream_field != 0) {
    if (r.nextIs(tag(stream_field, 0), ended)) {
      if (!r.varint(value)) return r.status;
      h.stream = static_cast<uint32_t>(value);
    } else if (ended) {
      return r.status;
    }
  }
  if (!r.nextIs(tag(data_field, 2), ended)) return ended ? r.status : DataPeek::Other;
  if (!r.varint(value)) return r.status;
  // The data must run exactly to the end of the frame, and hold something (proto3 leaves an
  // empty one out; the parser handles that case).
  if (value == 0 || r.pos + value != frame_end) return DataPeek::Other;
  h.header_size = r.pos;
  h.data_size = static_cast<size_t>(value);
  out = h;
  return DataPeek::Data;
}

}  // namespace

DataPeek peekOutputFrameHeader(std::string_view in, size_t max_payload, DataFrameHeader& out) {
  return peekDataFrameHeader(in, max_payload, rxpb::v1::Frame::kOutputFieldNumber,
                             rxpb::v1::Output::kStreamFieldNumber, rxpb::v1::Output::kDataFieldNumber, out);
}

DataPeek peekStdinFrameHeader(std::string_view in, size_t max_payload, DataFrameHeader& out) {
  return peekDataFrameHeader(in, max_payload, rxpb::v1::Frame::kStdinDataFieldNumber, 0,
                             rxpb::v1::StdinData::kDataFieldNumber, out);
}

FrameDecoder::Result parseMessageAt(std::string_view in, size_t max_payload,
                                    google::protobuf::MessageLite& message, size_t& consumed,
                                    std::string& error) {
  const Decoded d = decodeFrame(in, max_payload);
  switch (d.status) {
    case DecodeStatus::NeedMore:
      return FrameDecoder::Result::NeedMore;
    case DecodeStatus::TooLarge:
      error = fmt::format("frame larger than the limit of {} bytes", max_payload);
      return FrameDecoder::Result::Error;
    case DecodeStatus::BadLength:
      error = "malformed frame length";
      return FrameDecoder::Result::Error;
    case DecodeStatus::Frame:
      break;
  }
  message.Clear();
  if (!message.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size()))) {
    error = "malformed frame";
    return FrameDecoder::Result::Error;
  }
  consumed = d.consumed;
  return FrameDecoder::Result::Frame;
}

FrameDecoder::Result parseFrameAt(std::string_view in, size_t max_payload, rxpb::v1::Frame& frame,
                                  size_t& consumed, std::string& error) {
  size_t taken = 0;
  const FrameDecoder::Result r = parseMessageAt(in, max_payload, frame, taken, error);
  if (r != FrameDecoder::Result::Frame) return r;
  if (frame.msg_case() == rxpb::v1::Frame::MSG_NOT_SET) {
    error = "empty or unknown frame type";
    return FrameDecoder::Result::Error;
  }
  consumed = taken;
  return FrameDecoder::Result::Frame;
}

FrameDecoder::Result FrameDecoder::next(rxpb::v1::Frame& frame) {
  if (!error_.empty()) return Result::Error;
  size_t consumed = 0;
  const Result r =
      parseFrameAt(std::string_view(buffer_).substr(offset_), max_payload_, frame, consumed, error_);
  return advance(r, consumed);
}

FrameDecoder::Result FrameDecoder::next(google::protobuf::MessageLite& message) {
  if (!error_.empty()) return Result::Error;
  size_t consumed = 0;
  const Result r =
      parseMessageAt(std::string_view(buffer_).substr(offset_), max_payload_, message, consumed, error_);
  return advance(r, consumed);
}

FrameDecoder::Result FrameDecoder::advance(Result r, size_t consumed) {
  if (r == Result::NeedMore) {
    // Compact lazily so a stream of small frames does not memmove on every call.
    if (offset_ > 0) {
      buffer_.erase(0, offset_);
      offset_ = 0;
    }
  }
  if (r != Result::Frame) return r;
  offset_ += consumed;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return Result::Frame;
}

}  // namespace rx
