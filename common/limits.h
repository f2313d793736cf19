#pragma once
// Protocol constants shared by both ends. docs/PROTOCOL.md states the same figures.
#include <cstddef>
#include <cstdint>

namespace rx {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint16_t kDefaultPort = 5512;

// Frame payload limits: an unauthenticated peer may make us allocate only a little.
inline constexpr size_t kMaxFramePreAuth = 16 * 1024;
inline constexpr size_t kMaxFramePostAuth = 1024 * 1024;

inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kProofSize = 32;      // HMAC-SHA256
inline constexpr size_t kSignatureSize = 64;  // Ed25519
inline constexpr size_t kHmacKeySize = 32;
inline constexpr size_t kMaxKeyIdSize = 64;

// Stdin travels in chunks no larger than this (half the frame limit; rexecd's Output chunks are
// as large, see daemon/job.cc). 512 KiB rather than 256: 1 GiB of stdin into `cat` took 1.03 s
// instead of 1.25 s, from half the frames, reads and writes on both sides.
inline constexpr size_t kMaxChunk = 512 * 1024;
// FEATURE_CREDIT: how much of one command's Output data the server sends ahead of the
// client's OutputAck frames (a few chunks: enough to keep a fast reader streaming), and how much
// stdin the client sends ahead of the server's StdinAck frames (the server's stdin high-water
// mark: what it would hold for a command before it stopped reading the connection without the
// feature). Acknowledgements go out in steps of kCreditAckStep, well inside either window.
inline constexpr uint64_t kOutputWindow = 4 * 1024 * 1024;
inline constexpr uint64_t kStdinWindow = 1024 * 1024;
inline constexpr uint64_t kCreditAckStep = 256 * 1024;

}  // namespace rx
