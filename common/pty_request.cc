#include "common/pty_request.h"

#include <fmt/format.h>

#include "common/encoding.h"

namespace rx {

bool validTermName(std::string_view term) {
  if (term.size() > kMaxTermSize) return false;
  for (char c : term) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status checkWindowSize(const rxpb::v1::WindowSize& size) {
  struct Field {
    const char* name;
    uint32_t value;
    uint32_t max;
  };
  for (const Field& f :
       {Field{"rows", size.rows(), kMaxWindowCells}, Field{"cols", size.cols(), kMaxWindowCells},
        Field{"width_px", size.width_px(), kMaxWindowPixels},
        Field{"height_px", size.height_px(), kMaxWindowPixels}}) {
    if (f.value > f.max)
      return Status::Error(fmt::format("{} {} out of range (0 to {})", f.name, f.value, f.max));
  }
  return Status::Ok();
}

Status checkPtyRequest(const rxpb::v1::PtyRequest& pty) {
  if (!validTermName(pty.term()))
    return Status::Error(fmt::format("TERM {} is not 0 to {} bytes of [A-Za-z0-9._+-]",
                                     quoteForLog(pty.term().substr(0, 80)), kMaxTermSize));
  return checkWindowSize(pty.size());
}

TerminalSize terminalSizeFrom(const rxpb::v1::WindowSize& size) {
  return TerminalSize{size.rows(), size.cols(), size.width_px(), size.height_px()};
}

void setWindowSize(const TerminalSize& in, rxpb::v1::WindowSize& out) {
  out.set_rows(in.rows);
  out.set_cols(in.cols);
  out.set_width_px(in.width_px);
  out.set_height_px(in.height_px);
}

}  // namespace rx
