#pragma once
// uv_write of bytes the request owns until libuv is done with them (STYLE.md, after uvw: each
// write request owns its bytes). `done(status, size)` runs from the write callback, after the
// request and its bytes are freed.
#include <uv.h>

#include <functional>
#include <string>

namespace rx {

using WriteDone = std::function<void(int status, size_t size)>;

// Returns uv_write's error; then nothing was queued and `done` never runs.
int writeOwned(uv_stream_t* stream, std::string bytes, WriteDone done);

}  // namespace rx
