#pragma once
// The terminal part of the protocol (FEATURE_PTY): the checks both ends apply to a PtyRequest and
// a WindowSize, and the size as plain numbers. The daemon refuses anything outside these bounds,
// which keep every value inside the kernel's struct winsize (unsigned short) and TERM a short
// word that is safe in an environment and in a log line.
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "rexec.pb.h"

namespace rx {

inline constexpr uint32_t kMaxWindowCells = 10000;   // rows and columns
inline constexpr uint32_t kMaxWindowPixels = 65535;  // width and height in pixels
inline constexpr size_t kMaxTermSize = 64;

// A window size; 0 in any field means unknown (the kernel's value for a fresh terminal).
struct TerminalSize {
  uint32_t rows = 0;
  uint32_t cols = 0;
  uint32_t width_px = 0;
  uint32_t height_px = 0;
  bool operator==(const TerminalSize&) const = default;
};

// 0 to 64 bytes of [A-Za-z0-9._+-] ("xterm-256color", "screen.xterm-256color", "rxvt-unicode").
bool validTermName(std::string_view term);

// "rows 20000 out of range (0 to 10000)" and the like.
Status checkWindowSize(const rxpb::v1::WindowSize& size);
Status checkPtyRequest(const rxpb::v1::PtyRequest& pty);

TerminalSize terminalSizeFrom(const rxpb::v1::WindowSize& size);
void setWindowSize(const TerminalSize& in, rxpb::v1::WindowSize& out);

}  // namespace rx
