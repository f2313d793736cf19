#include "common/owned_write.h"

namespace rx {
namespace {

struct OwnedWrite {
  uv_write_t req;
  std::string data;
  WriteDone done;
};

}  // namespace

int writeOwned(uv_stream_t* stream, std::string bytes, WriteDone done) {
  auto* w = new OwnedWrite{{}, std::move(bytes), std::move(done)};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int err = uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int status) {
    auto* finished = static_cast<OwnedWrite*>(req->data);
    const size_t size = finished->data.size();
    WriteDone cb = std::move(finished->done);
    delete finished;
    cb(status, size);
  });
  if (err != 0) delete w;
  return err;
}

int writeBorrowed(uv_stream_t* stream, std::string_view bytes, size_t& written, WriteDone done) {
  written = 0;
  if (bytes.empty()) return 0;
  if (uv_stream_get_write_queue_size(stream) == 0) {
    const uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    const int n = uv_try_write(stream, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) return n;
    if (n > 0) written = static_cast<size_t>(n);
  }
  if (written == bytes.size()) return 0;
  return writeOwned(stream, std::string(bytes.substr(written)), std::move(done));
}

}  // namespace rx
