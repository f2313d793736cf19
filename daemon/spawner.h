#pragma once
// rexecd's side of the spawn helper (daemon/spawn_helper.h): commands are started by a small
// helper process instead of by rexecd itself.
//
// Why: uv_spawn forks the calling process. rexecd's fork copies the page tables of everything it
// holds, the loop waits meanwhile, and afterwards every page rexecd writes takes a copy-on-write
// fault; the child's exec then tears the copy down again. All of that grows with rexecd: holding
// 10,000 idle connections (330 MB), its clone() took 6.9 ms instead of 1.1 ms and a one-shot
// command 40 ms instead of 22 ms. The helper is a few MB whatever rexecd holds, and rexecd never
// forks after start-up.
//
// A spawn is a request on one socket; the answer (the child's pid once it has exec'd, or why it
// could not start) and later its exit come on a second socket, in that order, and go to the
// SpawnWatcher given with the request. rexecd does not wait for the answer: the helper's fork
// and the child's exec (all the more a program on slow storage) hold up no other session. 1,000
// one-shot `true` at 50 in parallel on 2 cores: 392 commands/s when rexecd waited for each answer
// (its loop stood still while the child was still to be scheduled, and a core went idle), 452
// without (3 alternating runs each). If the helper dies, or leaves an answer unsent for a minute
// (kAnswerTimeoutMs), every watcher hears onSpawnLost() (no exit status will ever come for its
// child) and the next spawn starts a new helper. The helper itself does not fork either: it starts
// each command with clone(CLONE_VM | CLONE_VFORK) (daemon/start_child.h).
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spawn.pb.h"

namespace rx {

class SpawnWatcher {
 public:
  virtual ~SpawnWatcher() = default;
  // The child has exec'd: it is `pid`, its session and its process group.
  virtual void onSpawnStarted(int pid) = 0;
  // It could not be started (a negative errno, the same value as libuv's UV_E* codes). Nothing
  // follows.
  virtual void onSpawnFailed(int error) = 0;
  // The child exited (as uv_process_t's exit callback would report it: the exit status, or the
  // signal that ended it).
  virtual void onSpawnExit(int64_t exit_status, int term_signal, bool core_dumped) = 0;
  // The helper died: this child's exit will never be known.
  virtual void onSpawnLost() = 0;
};

class HelperProcess;

class Spawner {
 public:
  // `helper_binary`: rexecd itself (it has the --spawn-helper mode).
  Spawner(uv_loop_t* loop, std::string helper_binary);
  // Leaves the helper to end by itself (it exits at end of file on its request socket).
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  void setHelperBinary(std::string path) { helper_binary_ = std::move(path); }
  // How long an answer may be awaited before the helper is taken for hung (default a minute);
  // for tests. Applies to the helpers started from then on.
  void setAnswerTimeout(uint64_t ms) { answer_timeout_ms_ = ms; }
  // Starts the helper if it is not running. Returns 0 or a libuv error.
  int start();
  // Asks for `request`'s child with `fds` (sent with the request: the caller may close its own
  // copies as soon as this returns). Returns 0, and `watcher` hears onSpawnStarted() or
  // onSpawnFailed() later, never from inside this call; or a libuv error, and nothing follows.
  // The request's id is set here.
  int spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher);
  // Stops the helper: it exits, and no watcher hears anything more.
  void close();
  // The helper's pid (0: none running), for tests.
  int helperPid() const;

 private:
  friend class HelperProcess;
  uv_loop_t* loop_;
  std::string helper_binary_;
  uint64_t answer_timeout_ms_;
  HelperProcess* helper_ = nullptr;  // frees itself once its handles are closed
  uint64_t next_id_ = 1;
};

}  // namespace rx
