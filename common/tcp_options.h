#pragma once
#include <uv.h>

namespace rx {

// Options every rexec TCP connection gets, on both ends:
// - TCP_NODELAY: every protocol step is one write; Nagle would hold small ones back for the
//   peer's delayed ACK (the ~90 ms OpenSSH loses per one-shot command).
// - keepalive after 30 s idle, then 3 probes 10 s apart, and TCP_USER_TIMEOUT of 60 s for unacked
//   data: a peer that vanished without a FIN is noticed within about a minute instead of hours.
void configureTcp(uv_tcp_t* tcp);

}  // namespace rx
