#pragma once
// The byte layouts that session_fuzz and client_session_fuzz read and make_corpus writes: a mode
// byte, then operations until the input ends. Reads past the end yield zeros or fewer bytes, so
// every input is a valid program and the fuzzer's mutations stay meaningful.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rx::fuzz {

class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : in_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return in_.empty(); }
  uint8_t u8() {
    if (in_.empty()) return 0;
    const auto v = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    return v;
  }
  // Little endian.
  uint16_t u16() {
    const uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (u8() << 8));
  }
  // Up to `n` bytes (fewer at the end of the input).
  std::string_view bytes(size_t n) {
    const std::string_view out = in_.substr(0, std::min(n, in_.size()));
    in_.remove_prefix(out.size());
    return out;
  }

 private:
  std::string_view in_;
};

class InputWriter {
 public:
  InputWriter& u8(uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  InputWriter& u16(uint16_t v) { return u8(static_cast<uint8_t>(v & 0xff)).u8(static_cast<uint8_t>(v >> 8)); }
  InputWriter& bytes(std::string_view b) {
    out_.append(b);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// session_fuzz: the daemon's rx::Session.
namespace session_input {
// Mode byte.
inline constexpr uint8_t kModeAuth = 0x01;       // the harness sends a valid AuthResponse first
inline constexpr uint8_t kModeEd25519 = 0x02;    // ... for the Ed25519 key (else the HMAC key)
inline constexpr int kModeFeatureShift = 2;      // bits 2..4: the features it asks for
inline constexpr uint8_t kModePipelined = 0x20;  // ... in the same onBytes() as the first kFeed
inline constexpr uint8_t kModeBadProof = 0x40;   // ... with one proof bit flipped: must fail
// Operations: an op byte (taken modulo kOpCount), then its arguments.
enum Op : uint8_t {
  kFeed,          // u16 n, n bytes: Session::onBytes
  kOutput,        // u8 job, u8 stream (bit 0: stderr), u8 n, n bytes: the job writes output
  kFinish,        // u8 job, u8 outcome (mod 3: exit, signal, timeout), u8 code: the job is reaped
  kStdinDrained,  // u8 job: the job's stdin queue empties
  kWritten,       // u16 n: the connection wrote n queued bytes to the socket
  kShutdown,      // Session::shutdown
  kPeerClosed,    // Session::onPeerClosed
  kOpCount,
};
}  // namespace session_input

// client_session_fuzz: the client's rx::ClientSession.
namespace client_input {
// Mode byte.
inline constexpr uint8_t kModeHandshake = 0x01;      // the harness plays an honest server's handshake
inline constexpr uint8_t kModeEd25519 = 0x02;        // the client's key is Ed25519 (else HMAC)
inline constexpr uint8_t kModeChallengeOnly = 0x04;  // ... but sends only the challenge
inline constexpr uint8_t kModeNoChannel = 0x08;      // onSecureChannel() is never called
// The session's role (ClientSession::Role): through a local master (rexec -S; kModeHandshake then
// plays the master's greeting), or a master itself (rexec -M). Neither bit: one command.
inline constexpr uint8_t kModeViaMaster = 0x10;
inline constexpr uint8_t kModeMaster = 0x20;
enum Op : uint8_t {
  kFeed,        // u16 n, n bytes: ClientSession::onBytes
  kStdin,       // u8 n, n bytes: ClientSession::sendStdin
  kCloseStdin,  // ClientSession::closeStdin
  kSignal,      // u8 which: ClientSession::sendSignal
  kClosed,      // ClientSession::onClosed
  kOpCount,
};
}  // namespace client_input

}  // namespace rx::fuzz
