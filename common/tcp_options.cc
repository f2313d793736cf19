#include "common/tcp_options.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace rx {

void configureTcp(uv_tcp_t* tcp) {
  uv_tcp_nodelay(tcp, 1);
  uv_tcp_keepalive(tcp, 1, 30);
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) != 0) return;
  const int interval = 10, count = 3;
  const unsigned user_timeout_ms = 60000;
  // Best effort: failures leave the system defaults, which are safe, only slower.
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

}  // namespace rx
