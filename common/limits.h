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

// Output and stdin travel in chunks no larger than this (well below the frame limit).
inline constexpr size_t kMaxChunk = 256 * 1024;

}  // namespace rx
