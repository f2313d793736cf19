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

}  // namespace rx
