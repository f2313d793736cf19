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

void appendFrame(std::string& out, const rxpb::v1::Frame& frame) {
  const size_t size = frame.ByteSizeLong();
  uint64_t v = size;
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v);
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
