#include "daemon/start_child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

extern char** environ;

namespace rx {
namespace {

struct ChildArgs {
  const ChildSpec* spec;
  int error;  // written by the child before it gives up: a negative errno
};

// The kernel's struct sigaction on x86-64 and the other 64-bit Linux ports (the mask is 8 bytes).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// In the child, as childMain below.
[[noreturn]] __attribute__((no_sanitize("address", "undefined"))) void childFailed(ChildArgs* args, int err) {
  args->error = -err;
  _exit(127);
}

// Runs in the child, on the parent's memory, until the exec. Only system calls, through raw
// syscall() where glibc's wrapper does more than the call (setuid and friends would act on the
// helper's threads; sigaction goes through the sanitizers' bookkeeping in the parent's memory),
// and no sanitizer instrumentation (its stack is not one the sanitizers know).
__attribute__((no_sanitize("address", "undefined"))) int childMain(void* p) {
  auto* args = static_cast<ChildArgs*>(p);
  const ChildSpec& spec = *args->spec;

  // Every signal arrives blocked (the parent blocked them all before the clone). A handler must
  // never run here, on the parent's memory: every disposition goes back to the default first
  // (also SIG_IGN, which an exec would keep: the command must not inherit the helper's ignored
  // SIGPIPE), and only then is the mask cleared, just before the exec.
  KernelSigaction dfl{};
  dfl.handler = SIG_DFL;
  for (int n = 1; n < 32; ++n) {
    if (n == SIGKILL || n == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, n, &dfl, nullptr, sizeof dfl.mask);
  }

  syscall(SYS_setsid);  // cannot fail: a new child leads no group yet

  // stdin, stdout, stderr. A source below 3 could be overwritten by an earlier dup2 (say the
  // command's stdout and stderr swapped): those are moved out of the way first. Every copy made
  // here is close-on-exec, and so are the descriptors the helper received.
  int source[3];
  for (int i = 0; i < 3; ++i) {
    source[i] = spec.stdio[i];
    if (source[i] >= 0 && source[i] < 3) {
      source[i] = static_cast<int>(syscall(SYS_fcntl, source[i], F_DUPFD_CLOEXEC, 3));
      if (source[i] < 0) childFailed(args, errno);
    }
  }
  for (int i = 0; i < 3; ++i) {
    int fd = source[i];
    if (fd < 0) {
      fd = static_cast<int>(syscall(SYS_open, "/dev/null", (i == 0 ? O_RDONLY : O_RDWR) | O_CLOEXEC));
      if (fd < 0) childFailed(args, errno);
    }
    if (fd == i) {
      // dup2 of a descriptor onto itself would leave it close-on-exec.
      if (syscall(SYS_fcntl, i, F_SETFD, 0) < 0) childFailed(args, errno);
    } else if (syscall(SYS_dup2, fd, i) < 0) {
      childFailed(args, errno);
    }
    // The command expects blocking stdio (a non-blocking one makes plain programs fail with EAGAIN).
    const long flags = syscall(SYS_fcntl, i, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) syscall(SYS_fcntl, i, F_SETFL, flags & ~O_NONBLOCK);
  }

  // The slave was opened with O_NOCTTY by rexecd; a session leader without a controlling terminal
  // takes it here.
  if (spec.controlling_terminal && syscall(SYS_ioctl, 0, TIOCSCTTY, 0) != 0) childFailed(args, errno);

  if (spec.cwd != nullptr && syscall(SYS_chdir, spec.cwd) != 0) childFailed(args, errno);

  if (spec.set_user) {
    // Dropping root's supplementary groups; fails harmlessly when the helper is not root (it may
    // then only name its own account: common/run_as_user.h).
    syscall(SYS_setgroups, 0, nullptr);
    if (syscall(SYS_setgid, spec.gid) != 0) childFailed(args, errno);
    if (syscall(SYS_setuid, spec.uid) != 0) childFailed(args, errno);
  }

  // execvp looks PATH up in `environ`: the command's own (the parent puts its own back).
  environ = const_cast<char**>(spec.env);
  const uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
  execvp(spec.file, spec.argv);
  childFailed(args, errno);
}

}  // namespace

int startChild(const ChildSpec& spec) {
  // The child's stack: execvp needs room for a path (PATH_MAX) and, for a script without #!, a
  // copy of argv; the rest is small. A guard page below it.
  size_t argc = 0;
  while (spec.argv[argc] != nullptr) ++argc;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t stack_size = (64 * 1024 + (argc + 2) * sizeof(char*) + page - 1) / page * page;
  const size_t map_size = stack_size + page;
  void* map =
      ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return -errno;
  ::mprotect(map, page, PROT_NONE);

  ChildArgs args{&spec, 0};
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  char** const own_environ = environ;
  // CLONE_VFORK: this returns once the child has exec'd or exited, so its stack and `args` are
  // free again and `args.error` is final.
  const int pid =
      ::clone(childMain, static_cast<char*>(map) + map_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  const int clone_error = errno;
  environ = own_environ;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(map, map_size);

  if (pid < 0) return -clone_error;
  if (args.error != 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return args.error;
  }
  return pid;
}

}  // namespace rx
