#pragma once
// uv_write of bytes the request owns until libuv is done with them (STYLE.md, after uvw: each
// write request owns its bytes). `done(status, size)` runs from the write callback, after the
// request and its bytes are freed.
#include <uv.h>

#include <functional>
#include <string>
#include <string_view>

namespace rx {

using WriteDone = std::function<void(int status, size_t size)>;

// Returns uv_write's error; then nothing was queued and `done` never runs.
int writeOwned(uv_stream_t* stream, std::string bytes, WriteDone done);

// Writes borrowed bytes: when nothing is queued on the stream, what the kernel takes at once goes
// straight from `bytes`, and only the rest is copied into an owned write (the common case on a
// fast stream is no copy at all). `written` gets the bytes written at once; `done(status, n)` runs
// for the queued rest only (none queued: it never runs). Returns a write error; then `written`
// may be partial and nothing was queued.
int writeBorrowed(uv_stream_t* stream, std::string_view bytes, size_t& written, WriteDone done);

}  // namespace rx
