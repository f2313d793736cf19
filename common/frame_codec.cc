#include "common/frame_codec.h"

#include <fmt/format.h>

namespace rx {

Decoded decodeFrame(std::string_view in, size_t max_payload) {
  uint64_t length = 0;
  size_t i = 0;
  for (;; ++i) {
    if (i == 5) return {DecodeStatus::BadLength, {}, 0};
    if (i == in.size()) return {DecodeStatus::NeedMore, {}, 0};
    const auto byte = static_cast<uint8_t>(in[i]);
    length |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  // The fifth byte may carry only 4 significant bits for a 32-bit length.
  if (length > 0xffffffffULL) return {DecodeStatus::BadLength, {}, 0};
  if (length > max_payload) return {DecodeStatus::TooLarge, {}, 0};
  const size_t header = i + 1;
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
// rule that fields at their default value (0, empty) are not written.
void appendDataFrame(std::string& out, int frame_field, uint32_t exec_id, uint32_t stream, int data_field,
                     std::string_view data) {
  size_t inner = 0;
  if (exec_id != 0) inner += 1 + varintSize(exec_id);
  if (stream != 0) inner += 1 + varintSize(stream);
  if (!data.empty()) inner += 1 + varintSize(data.size()) + data.size();
  const size_t frame = 1 + varintSize(inner) + inner;
  out.reserve(out.size() + varintSize(frame) + frame);
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
  if (!data.empty()) {
    out.push_back(static_cast<char>(tag(data_field, 2)));
    appendVarint(out, data.size());
    out.append(data);
  }
}

}  // namespace

void appendOutputFrame(std::string& out, uint32_t exec_id, rxpb::v1::Stream stream, std::string_view data) {
  appendDataFrame(out, rxpb::v1::Frame::kOutputFieldNumber, exec_id, static_cast<uint32_t>(stream),
                  rxpb::v1::Output::kDataFieldNumber, data);
}

void appendStdinFrame(std::string& out, uint32_t exec_id, std::string_view data) {
  appendDataFrame(out, rxpb::v1::Frame::kStdinDataFieldNumber, exec_id, 0,
                  rxpb::v1::StdinData::kDataFieldNumber, data);
}

void appendFrame(std::string& out, const rxpb::v1::Frame& frame) {
  const size_t size = frame.ByteSizeLong();
  appendVarint(out, size);
  const size_t start = out.size();
  out.resize(start + size);
  frame.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + start));
}

std::string encodeFrame(const rxpb::v1::Frame& frame) {
  std::string out;
  appendFrame(out, frame);
  return out;
}

FrameDecoder::Result FrameDecoder::next(rxpb::v1::Frame& frame) {
  if (!error_.empty()) return Result::Error;
  const std::string_view view(buffer_.data() + offset_, buffer_.size() - offset_);
  const Decoded d = decodeFrame(view, max_payload_);
  switch (d.status) {
    case DecodeStatus::NeedMore:
      // Compact lazily so a stream of small frames does not memmove on every call.
      if (offset_ > 0) {
        buffer_.erase(0, offset_);
        offset_ = 0;
      }
      return Result::NeedMore;
    case DecodeStatus::TooLarge:
      error_ = fmt::format("frame larger than the limit of {} bytes", max_payload_);
      return Result::Error;
    case DecodeStatus::BadLength:
      error_ = "malformed frame length";
      return Result::Error;
    case DecodeStatus::Frame:
      break;
  }
  frame.Clear();
  if (!frame.ParseFromArray(d.payload.data(), static_cast<int>(d.payload.size()))) {
    error_ = "malformed frame";
    return Result::Error;
  }
  if (frame.msg_case() == rxpb::v1::Frame::MSG_NOT_SET) {
    error_ = "empty or unknown frame type";
    return Result::Error;
  }
  offset_ += d.consumed;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return Result::Frame;
}

}  // namespace rx
