#include "common/receive_low_water.h"

#include <sys/socket.h>

#include <algorithm>

namespace rx {

size_t receiveLowWater(uint64_t coming, size_t held) {
  if (coming <= held) return 1;
  return static_cast<size_t>(std::min<uint64_t>(coming - held, kMaxReceiveLowWater));
}

void ReceiveLowWater::set(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  if (fd_ < 0 || bytes == current_) return;
  const int value = static_cast<int>(bytes);
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &value, sizeof value) == 0) current_ = bytes;
}

}  // namespace rx
