#pragma once
// Frames out of a session's decrypted byte stream, with the data of its bulk frames (Output for
// rexec, StdinData for rexecd) passed on as it arrives: a 512 KiB frame spans reads, and
// collecting each one whole and then having protobuf copy the data out of it were two copies of
// every byte of a stream (about a tenth of rexec's CPU on stdout). Only what a read cuts in two
// of a frame header or of another (small) frame is kept. No sockets here; ClientSession and
// Session feed it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/frame_codec.h"

namespace rx {

class DataFrameReader {
 public:
  // peekOutputFrameHeader or peekStdinFrameHeader: which frames are streamed.
  using Peek = DataPeek (*)(std::string_view in, size_t max_payload, DataFrameHeader& out);

  // The session the frames are for; it is asked before each step, as its state may change with
  // every frame it is given.
  class Sink {
   public:
    virtual ~Sink() = default;
    // False once the session has failed or closed: nothing more is read.
    virtual bool reading() const = 0;
    // The frame size limit now.
    virtual size_t maxPayload() const = 0;
    // Whether data frames are streamed now (only after authentication do they belong).
    virtual bool streamingData() const = 0;
    // A data frame's header; its data follows in onData() parts. False: refused (the session
    // failed).
    virtual bool onDataHeader(const DataFrameHeader& header) = 0;
    // `last`: the frame's data ends with this part.
    virtual void onData(std::string_view part, bool last) = 0;
    // Any other frame, whole.
    virtual void onFrame(rxpb::v1::Frame& frame) = 0;
    // A frame that is not one (bad length, over the limit, not protobuf); the session fails.
    virtual void onError(const std::string& error) = 0;
  };

  explicit DataFrameReader(Peek peek) : peek_(peek) {}

  void feed(std::string_view bytes, Sink& sink);
  // Inside a data frame: how much of its data is still to come (0 between frames).
  uint64_t dataLeft() const { return data_left_; }

 private:
  // The header or frame at the front of `in`, given to the sink: the bytes it took, or 0 if `in`
  // ends inside it (or the sink failed).
  size_t takeUnit(std::string_view in, Sink& sink);

  Peek peek_;
  std::string pending_;     // the start of a frame (or of a data frame's header) that a read cut
  uint64_t data_left_ = 0;  // inside a data frame: how much of its data is still to come
};

}  // namespace rx
