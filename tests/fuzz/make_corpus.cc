// Writes the fuzz targets' seed corpus: a few small inputs per target, each a valid frame or a
// short valid conversation in the layout of tests/fuzz/fuzz_input.h. Deterministic, and free of
// key material (the fuzz targets derive their keys themselves, see fuzz_keys.h).
//
//   rx_make_corpus tests/fuzz/corpus     (rewrites tests/fuzz/corpus/<target>/*)
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/frame_codec.h"
#include "common/limits.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_keys.h"

namespace rx {
namespace {

using rxpb::v1::Frame;
namespace fs = std::filesystem;

// --- Frames ---

Frame challenge() {
  Frame f;
  auto* c = f.mutable_auth_challenge();
  c->set_protocol_version(kProtocolVersion);
  c->set_features(rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS | rxpb::v1::FEATURE_MULTI_EXEC);
  c->set_server_nonce(fuzz::fixedServerNonce());
  return f;
}

// Well formed, but its proof is zeros: the daemon refuses it.
Frame authResponse(const ClientKey& key) {
  Frame f;
  auto* a = f.mutable_auth_response();
  a->set_protocol_version(kProtocolVersion);
  a->set_features(rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS);
  a->set_key_id(key.key_id);
  a->set_client_nonce(fuzz::fixedClientNonce());
  a->set_proof(std::string(key.type == KeyType::Ed25519 ? 64 : kProofSize, '\0'));
  return f;
}

Frame authResult(bool ok, std::string_view proof_or_message) {
  Frame f;
  f.mutable_auth_result()->set_ok(ok);
  if (ok) {
    f.mutable_auth_result()->set_server_proof(std::string(proof_or_message));
  } else {
    f.mutable_auth_result()->set_message(std::string(proof_or_message));
  }
  return f;
}

Frame exec(uint32_t id, std::vector<std::string> argv, std::string cwd = "/tmp", bool stdin_open = false) {
  Frame f;
  auto* r = f.mutable_exec_request();
  r->set_exec_id(id);
  for (auto& a : argv) r->add_argv(a);
  r->set_cwd(cwd);
  r->set_stdin_open(stdin_open);
  return f;
}

Frame shellExec(uint32_t id, std::string command) {
  Frame f = exec(id, {std::move(command)});
  f.mutable_exec_request()->set_shell(true);
  f.mutable_exec_request()->set_timeout_ms(5000);
  return f;
}

// LD_PRELOAD is dropped; `bad_name` makes the daemon refuse the whole request.
Frame execWithEnv(uint32_t id, bool bad_name = false) {
  Frame f = exec(id, {"env"}, "");
  std::vector<std::pair<std::string, std::string>> env{
      {"LANG", "C"}, {"LC_ALL", "C.UTF-8"}, {"LD_PRELOAD", "/tmp/x.so"}};
  if (bad_name) env.emplace_back("BAD=NAME", "x");
  for (const auto& [name, value] : env) {
    auto* e = f.mutable_exec_request()->add_env();
    e->set_name(name);
    e->set_value(value);
  }
  return f;
}

Frame stdinData(uint32_t id, std::string data) {
  Frame f;
  f.mutable_stdin_data()->set_exec_id(id);
  f.mutable_stdin_data()->set_data(std::move(data));
  return f;
}

Frame stdinClose(uint32_t id) {
  Frame f;
  f.mutable_stdin_close()->set_exec_id(id);
  return f;
}

Frame signal(uint32_t id, std::string name) {
  Frame f;
  f.mutable_signal()->set_exec_id(id);
  f.mutable_signal()->set_name(std::move(name));
  return f;
}

Frame output(uint32_t id, rxpb::v1::Stream stream, std::string data) {
  Frame f;
  f.mutable_output()->set_exec_id(id);
  f.mutable_output()->set_stream(stream);
  f.mutable_output()->set_data(std::move(data));
  return f;
}

Frame exitResult(uint32_t id, int code, uint64_t out_bytes, uint64_t err_bytes) {
  Frame f;
  auto* r = f.mutable_exec_result();
  r->set_exec_id(id);
  r->set_exit_code(code);
  r->set_stdout_bytes(out_bytes);
  r->set_stderr_bytes(err_bytes);
  r->set_wall_time_us(1234);
  return f;
}

Frame signaledResult(uint32_t id) {
  Frame f;
  auto* r = f.mutable_exec_result();
  r->set_exec_id(id);
  r->mutable_signaled()->set_name("KILL");
  r->mutable_signaled()->set_number(9);
  return f;
}

Frame timedOutResult(uint32_t id) {
  Frame f;
  f.mutable_exec_result()->set_exec_id(id);
  f.mutable_exec_result()->mutable_timed_out()->set_timeout_ms(100);
  return f;
}

Frame startFailedResult(uint32_t id) {
  Frame f;
  f.mutable_exec_result()->set_exec_id(id);
  f.mutable_exec_result()->mutable_start_failed()->set_reason(rxpb::v1::StartFailed::NOT_FOUND);
  f.mutable_exec_result()->mutable_start_failed()->set_message("nosuch: not found");
  return f;
}

Frame error(std::string message) {
  Frame f;
  f.mutable_error()->set_message(std::move(message));
  return f;
}

// A StdinData frame whose payload is exactly `size` bytes.
Frame frameOfSize(size_t size) {
  Frame f = stdinData(1, std::string(size, 'd'));
  // Shrinking the data may shorten the varint lengths around it: converge in a few steps.
  for (int i = 0; i < 4 && f.ByteSizeLong() != size; ++i) {
    const size_t excess = f.ByteSizeLong() - size;
    f.mutable_stdin_data()->set_data(std::string(f.stdin_data().data().size() - excess, 'd'));
  }
  if (f.ByteSizeLong() != size) throw std::runtime_error("frameOfSize: no frame of that size");
  return f;
}

std::string frames(std::initializer_list<Frame> list) {
  std::string out;
  for (const auto& f : list) appendFrame(out, f);
  return out;
}

// --- Inputs in the layout of fuzz_input.h ---

class SessionInput {
 public:
  explicit SessionInput(uint8_t mode) { w_.u8(mode); }
  SessionInput& feed(std::string_view bytes) {
    do {
      const std::string_view part = bytes.substr(0, 0xffff);
      w_.u8(fuzz::session_input::kFeed).u16(static_cast<uint16_t>(part.size())).bytes(part);
      bytes.remove_prefix(part.size());
    } while (!bytes.empty());
    return *this;
  }
  SessionInput& output(uint8_t job, bool to_stderr, std::string_view data) {
    w_.u8(fuzz::session_input::kOutput).u8(job).u8(to_stderr ? 1 : 0).u8(static_cast<uint8_t>(data.size()));
    w_.bytes(data.substr(0, 0xff));
    return *this;
  }
  SessionInput& finish(uint8_t job, uint8_t outcome, uint8_t code) {
    w_.u8(fuzz::session_input::kFinish).u8(job).u8(outcome).u8(code);
    return *this;
  }
  SessionInput& stdinDrained(uint8_t job) {
    w_.u8(fuzz::session_input::kStdinDrained).u8(job);
    return *this;
  }
  SessionInput& written(uint16_t n) {
    w_.u8(fuzz::session_input::kWritten).u16(n);
    return *this;
  }
  SessionInput& op(fuzz::session_input::Op op) {
    w_.u8(op);
    return *this;
  }
  const std::string& str() const { return w_.str(); }

 private:
  fuzz::InputWriter w_;
};

class ClientInput {
 public:
  explicit ClientInput(uint8_t mode) { w_.u8(mode); }
  ClientInput& feed(std::string_view bytes) {
    w_.u8(fuzz::client_input::kFeed).u16(static_cast<uint16_t>(bytes.size())).bytes(bytes);
    return *this;
  }
  ClientInput& stdinData(std::string_view data) {
    w_.u8(fuzz::client_input::kStdin).u8(static_cast<uint8_t>(data.size())).bytes(data);
    return *this;
  }
  ClientInput& op(fuzz::client_input::Op op) {
    w_.u8(op);
    return *this;
  }
  ClientInput& signal(uint8_t which) {
    w_.u8(fuzz::client_input::kSignal).u8(which);
    return *this;
  }
  const std::string& str() const { return w_.str(); }

 private:
  fuzz::InputWriter w_;
};

void write(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

void frameDecoderCorpus(const fs::path& dir) {
  const ClientKey& key = fuzz::hmacKey();
  write(dir, "auth_challenge", encodeFrame(challenge()));
  write(dir, "auth_response", encodeFrame(authResponse(key)));
  write(dir, "auth_result_ok", encodeFrame(authResult(true, std::string(kProofSize, 'p'))));
  write(dir, "auth_result_refused", encodeFrame(authResult(false, "authentication failed")));
  write(dir, "exec_request", encodeFrame(execWithEnv(1)));
  write(dir, "exec_request_shell", encodeFrame(shellExec(2, "echo hi | wc -c")));
  write(dir, "stdin_data", encodeFrame(stdinData(1, "some input\n")));
  write(dir, "stdin_close", encodeFrame(stdinClose(1)));
  write(dir, "signal", encodeFrame(signal(1, "INT")));
  write(dir, "output", encodeFrame(output(1, rxpb::v1::STREAM_STDERR, "warning\n")));
  write(dir, "exec_result_exit", encodeFrame(exitResult(1, -1, 10, 0)));
  write(dir, "exec_result_signaled", encodeFrame(signaledResult(1)));
  write(dir, "exec_result_timed_out", encodeFrame(timedOutResult(1)));
  write(dir, "exec_result_start_failed", encodeFrame(startFailedResult(1)));
  write(dir, "error", encodeFrame(error("protocol error")));
  write(dir, "stream",
        frames({authResponse(key), exec(1, {"cat"}, "/tmp", true), stdinData(1, "abc"), stdinClose(1),
                signal(1, "TERM")}));
  // THREATS.md row 9: a huge length, an over-long varint, a length just over the pre-auth limit.
  write(dir, "length_ff_ff_ff_ff_0f", std::string("\xff\xff\xff\xff\x0f", 5));
  write(dir, "varint_six_bytes", std::string("\x80\x80\x80\x80\x80\x01", 6));
  write(dir, "preauth_limit_plus_one", std::string("\x81\x80\x01xyz", 6));
  write(dir, "preauth_limit_exact", encodeFrame(frameOfSize(kMaxFramePreAuth)));
  write(dir, "empty_frame", std::string("\x00", 1));
}

void sessionCorpus(const fs::path& dir) {
  using namespace fuzz::session_input;
  constexpr uint8_t kShell = 1 << kModeFeatureShift;
  constexpr uint8_t kSignals = 2 << kModeFeatureShift;
  constexpr uint8_t kMulti = 4 << kModeFeatureShift;
  const std::string hello(200, 'h');

  // Raw: the fuzzer on its own, before authentication.
  write(dir, "raw_auth_then_exec",
        SessionInput(0).feed(frames({authResponse(fuzz::hmacKey()), exec(1, {"id"})})).str());
  write(dir, "raw_ed25519_auth", SessionInput(0).feed(encodeFrame(authResponse(fuzz::ed25519Key()))).str());
  write(dir, "raw_exec_before_auth", SessionInput(0).feed(encodeFrame(exec(1, {"id"}))).str());
  write(dir, "raw_huge_length", SessionInput(0).feed(std::string("\xff\xff\xff\xff\x0f", 5)).str());

  // Authenticated by the harness.
  write(dir, "auth_exec_output_exit",
        SessionInput(kModeAuth | kShell | kSignals)
            .feed(encodeFrame(exec(1, {"echo", "hi"})))
            .output(0, false, "hi\n")
            .output(0, true, "warning\n")
            .finish(0, 0, 0)
            .str());
  write(dir, "auth_pipelined_exec",
        SessionInput(kModeAuth | kModePipelined | kShell)
            .feed(encodeFrame(shellExec(1, "ls | wc -l")))
            .finish(0, 0, 1)
            .str());
  write(dir, "auth_ed25519_exec",
        SessionInput(kModeAuth | kModeEd25519 | kSignals)
            .feed(frames({exec(1, {"sleep", "9"}), signal(1, "TERM")}))
            .finish(0, 1, 0)
            .str());
  write(dir, "auth_stdin",
        SessionInput(kModeAuth | kSignals)
            .feed(frames(
                {exec(1, {"cat"}, "/tmp", true), stdinData(1, std::string(600, 'x')), stdinData(1, "y")}))
            .stdinDrained(0)
            .feed(frames({stdinData(1, "z"), stdinClose(1), signal(1, "INT"), signal(1, "NOPE")}))
            .str());
  write(dir, "auth_multi_exec",
        SessionInput(kModeAuth | kShell | kSignals | kMulti)
            .feed(frames({exec(1, {"a"}), exec(2, {"b"}, ""), exec(3, {"c"}), exec(4, {"too", "many"})}))
            .finish(1, 2, 50)
            .feed(frames(
                {exec(5, {"nosuch"}), exec(6, {"x"}, "/nonexistent"), exec(7, {}), execWithEnv(8, true)}))
            .finish(0, 0, 0)
            .feed(frames({shellExec(9, "true"), execWithEnv(10)}))
            .str());
  SessionInput backpressure(kModeAuth | kSignals);
  backpressure.feed(encodeFrame(exec(1, {"yes"})));
  for (int i = 0; i < 45; ++i) backpressure.output(0, i % 2, hello);
  backpressure.written(0xffff).output(0, false, "tail").finish(0, 0, 0);
  write(dir, "auth_backpressure", backpressure.str());
  write(dir, "auth_shutdown",
        SessionInput(kModeAuth | kMulti)
            .feed(encodeFrame(exec(1, {"sleep", "9"})))
            .op(kShutdown)
            .feed(encodeFrame(exec(2, {"id"})))
            .finish(0, 1, 0)
            .str());
  write(dir, "auth_peer_closed",
        SessionInput(kModeAuth | kMulti)
            .feed(frames({exec(1, {"sleep", "9"}), exec(2, {"sleep", "8"})}))
            .op(kPeerClosed)
            .finish(0, 1, 0)
            .str());
  write(dir, "auth_client_error",
        SessionInput(kModeAuth).feed(frames({exec(1, {"sleep", "9"}), error("bye")})).str());
  write(dir, "auth_exec_id_reuse",
        SessionInput(kModeAuth)
            .feed(encodeFrame(exec(3, {"id"})))
            .finish(0, 0, 0)
            .feed(encodeFrame(exec(3, {"id"})))
            .str());
  write(dir, "auth_second_auth",
        SessionInput(kModeAuth).feed(encodeFrame(authResponse(fuzz::hmacKey()))).str());
  write(dir, "auth_bad_proof",
        SessionInput(kModeAuth | kModeBadProof).feed(encodeFrame(exec(1, {"id"}))).str());
}

void clientSessionCorpus(const fs::path& dir) {
  using namespace fuzz::client_input;
  const std::string done = frames({output(1, rxpb::v1::STREAM_STDOUT, "total 0\n"),
                                   output(1, rxpb::v1::STREAM_STDERR, "warn\n"), exitResult(1, 3, 8, 5)});
  write(dir, "handshake_hmac_output_exit", ClientInput(kModeHandshake).feed(done).str());
  write(dir, "handshake_ed25519_signaled",
        ClientInput(kModeHandshake | kModeEd25519)
            .stdinData("input")
            .signal(0)
            .op(kCloseStdin)
            .feed(encodeFrame(signaledResult(1)))
            .str());
  write(dir, "handshake_truncated",
        ClientInput(kModeHandshake).feed(encodeFrame(exitResult(1, 0, 100, 0))).str());
  write(dir, "handshake_server_error",
        ClientInput(kModeHandshake).feed(encodeFrame(error("too busy"))).str());
  write(dir, "handshake_start_failed",
        ClientInput(kModeHandshake).feed(encodeFrame(startFailedResult(1))).str());
  write(dir, "handshake_connection_lost",
        ClientInput(kModeHandshake)
            .feed(encodeFrame(output(1, rxpb::v1::STREAM_STDOUT, "part")))
            .op(kClosed)
            .str());
  write(dir, "raw_ed25519_conversation",
        ClientInput(kModeEd25519)
            .feed(frames({challenge(), authResult(true, "")}))
            .feed(frames({output(1, rxpb::v1::STREAM_STDOUT, "x"), timedOutResult(1)}))
            .str());
  write(dir, "raw_hmac_forged_proof",
        ClientInput(0)
            .feed(frames({challenge(), authResult(true, std::string(kProofSize, 'p'))}))
            .feed(done)
            .str());
  write(dir, "challenge_only_refused",
        ClientInput(kModeHandshake | kModeChallengeOnly)
            .feed(encodeFrame(authResult(false, "authentication failed")))
            .str());
  write(dir, "no_secure_channel", ClientInput(kModeNoChannel).feed(encodeFrame(challenge())).str());
  // Through a local master (rexec -S): the greeting is played by the harness; then the same
  // conversation as with a server.
  write(dir, "via_master_output_exit",
        ClientInput(kModeHandshake | kModeViaMaster | kModeNoChannel).stdinData("in").feed(done).str());
  write(dir, "via_master_error",
        ClientInput(kModeHandshake | kModeViaMaster).feed(encodeFrame(error("master: x"))).str());
  // A master (rexec -M): its commands' output and results, relayed.
  Frame result_3 = exitResult(3, 0, 1, 0);
  write(dir, "master_relays",
        ClientInput(kModeHandshake | kModeMaster)
            .feed(frames(
                {output(3, rxpb::v1::STREAM_STDOUT, "x"), result_3, output(2, rxpb::v1::STREAM_STDOUT, "y")}))
            .str());
}

}  // namespace
}  // namespace rx

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path root(argv[1]);
    rx::frameDecoderCorpus(root / "frame_decoder_fuzz");
    rx::sessionCorpus(root / "session_fuzz");
    rx::clientSessionCorpus(root / "client_session_fuzz");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rx_make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
