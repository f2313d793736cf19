#include "common/data_frame_reader.h"

#include <algorithm>

namespace rx {

void DataFrameReader::feed(std::string_view bytes, Sink& sink) {
  while (sink.reading() && !bytes.empty()) {
    if (data_left_ > 0) {
      const std::string_view part = bytes.substr(0, std::min<uint64_t>(data_left_, bytes.size()));
      bytes.remove_prefix(part.size());
      data_left_ -= part.size();
      sink.onData(part, data_left_ == 0);
      continue;
    }
    if (pending_.empty()) {
      const size_t used = takeUnit(bytes, sink);
      if (used == 0) {
        if (sink.reading()) pending_.assign(bytes);
        return;
      }
      bytes.remove_prefix(used);
      continue;
    }
    // Grow pending_ to exactly the cut header (a byte at a time: its size shows only at its end)
    // or the cut frame, so that it never holds the start of the next one.
    const size_t max_payload = sink.maxPayload();
    const size_t frame_size = frameSizeIfKnown(pending_, max_payload);
    DataFrameHeader unused;
    const bool header_cut =
        sink.streamingData() && peek_(pending_, max_payload, unused) == DataPeek::NeedMore;
    const size_t want = header_cut || frame_size <= pending_.size() ? 1 : frame_size - pending_.size();
    const size_t take = std::min(want, bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    const size_t used = takeUnit(pending_, sink);
    if (used > 0) pending_.erase(0, used);
  }
}

size_t DataFrameReader::takeUnit(std::string_view in, Sink& sink) {
  const size_t max_payload = sink.maxPayload();
  if (sink.streamingData()) {
    DataFrameHeader h;
    switch (peek_(in, max_payload, h)) {
      case DataPeek::Data:
        if (!sink.onDataHeader(h)) return 0;
        data_left_ = h.data_size;
        return h.header_size;
      case DataPeek::NeedMore:
        return 0;
      case DataPeek::Other:
        break;
    }
  }
  rxpb::v1::Frame frame;
  size_t consumed = 0;
  std::string error;
  switch (parseFrameAt(in, max_payload, frame, consumed, error)) {
    case FrameDecoder::Result::NeedMore:
      return 0;
    case FrameDecoder::Result::Error:
      sink.onError(error);
      return 0;
    case FrameDecoder::Result::Frame:
      break;
  }
  sink.onFrame(frame);
  return consumed;
}

}  // namespace rx
