#pragma once
// SO_RCVLOWAT while a bulk frame is arriving. The kernel wakes a reader for every segment that
// lands, about 64 KiB on loopback, so 512 KiB of Output cost eight wake-ups, reads and trips
// through the event loop on the receiver, and as many wake-ups by the sender. Inside a data frame
// the receiver knows how much more is certainly on its way, and asks the kernel to wake it only
// once that much (up to a cap) is there.
//
// Safe by construction: the mark never exceeds what the peer has already committed to send (the
// rest of a frame whose header arrived; both ends write a frame whole), less what of it may sit
// undecrypted in the TLS engine. So the kernel always gets there, and the frame's end is never
// held back. Between frames, and for small ones, the mark is 1, the default. End of file, errors
// and memory pressure wake the reader whatever the mark (tcp_epollin_ready()).
#include <cstddef>
#include <cstdint>

#include "common/limits.h"

namespace rx {

// The most of a frame's data one wake-up waits for: a whole chunk. 2 GiB of stdout to /dev/null,
// medians of 11 alternating runs: 2157 ms without the mark, 1890 with a cap of 256 KiB, 1910 with
// 128 KiB, 1767 with 512 KiB. It only ever delays a frame's middle until more of the same frame,
// which the command wrote at the same moment, has arrived.
inline constexpr size_t kMaxReceiveLowWater = kMaxChunk;

// The mark for a socket with `coming` plaintext bytes of the current frame still to arrive and up
// to `held` ciphertext bytes already taken in by the TLS engine (a partial record).
size_t receiveLowWater(uint64_t coming, size_t held);

// One socket's mark; set only when it changes (one setsockopt per big frame, not per read).
class ReceiveLowWater {
 public:
  explicit ReceiveLowWater(int fd = -1) : fd_(fd) {}
  void attach(int fd) { fd_ = fd; }
  // Best effort: a kernel that refuses keeps waking the reader as before.
  void set(size_t bytes);

 private:
  int fd_;
  size_t current_ = 1;
};

}  // namespace rx
