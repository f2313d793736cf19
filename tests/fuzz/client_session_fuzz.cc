// libFuzzer target: the client's protocol state machine (rx::ClientSession) fed arbitrary server
// bytes after the secure channel is up (a lying or broken server). No sockets.
//
// Input (tests/fuzz/fuzz_input.h, client_input): a mode byte, then operations. With
// kModeHandshake the harness first plays an honest server (challenge, then an AuthResult with a
// valid proof for the client's nonce), so the fuzzer explores the running state with either key
// type; an Ed25519 client gets there alone too, since its server is proven by TLS, not a proof.
//
// Invariants: no crash, UB or leak; at most one of onResult/onFailure, and nothing at all reported
// or sent after it (done() says exactly that); a result's byte counts are those of the output
// reported; an HMAC client never reports output or a result from a server that did not prove the
// key; everything the client sends is whole frames of client message types, the AuthResponse
// within the pre-auth limit. Through a master (kModeViaMaster): no AuthResponse at all, the
// request first, and only after a greeting for the right target. As a master (kModeMaster): no
// command of its own, nothing reported as its output or result (all of it is relayed), ready only
// after a server that proved the key.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "client/client_session.h"
#include "common/auth_proof.h"
#include "common/limits.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_logs.h"

namespace rx {
namespace {

using rxpb::v1::Frame;
namespace in = fuzz::client_input;

class FuzzClientHost final : public ClientSessionHost {
 public:
  explicit FuzzClientHost(ClientSession::Role role) : role_(role) {
    if (role == ClientSession::Role::ViaMaster) decoder_.setMaxPayload(kMaxFramePostAuth);
  }
  void send(std::string_view bytes, std::string_view then) override {
    RX_FUZZ_CHECK(!reported());
    RX_FUZZ_CHECK(!bytes.empty());
    decoder_.feed(bytes);
    decoder_.feed(then);
    Frame f;
    for (;;) {
      const auto r = decoder_.next(f);
      if (r == FrameDecoder::Result::NeedMore) break;
      RX_FUZZ_CHECK(r == FrameDecoder::Result::Frame);  // the daemon's decoder would accept it
      onFrame(f);
    }
    RX_FUZZ_CHECK(decoder_.buffered() == 0);
  }
  void onRequestSent() override {
    RX_FUZZ_CHECK(!reported());
    RX_FUZZ_CHECK(!request_sent);
    RX_FUZZ_CHECK(exec_requests == (role_ == ClientSession::Role::Master ? 0 : 1));
    request_sent = true;
  }
  bool onRelayDataHeader(const DataFrameHeader& h) override {
    RX_FUZZ_CHECK(role_ == ClientSession::Role::Master && request_sent && !reported());
    ++relayed;
    return h.exec_id % 2 == 1;  // odd ids are the master's commands
  }
  void onRelayData(std::string_view, bool) override { RX_FUZZ_CHECK(role_ == ClientSession::Role::Master); }
  void onRelayFrame(const Frame& f) override {
    RX_FUZZ_CHECK(role_ == ClientSession::Role::Master && request_sent && !reported());
    RX_FUZZ_CHECK(f.msg_case() == Frame::kOutput || f.msg_case() == Frame::kExecResult ||
                  f.msg_case() == Frame::kStdinAck);
    ++relayed;
  }
  void onOutput(rxpb::v1::Stream stream, std::string_view data) override {
    RX_FUZZ_CHECK(role_ != ClientSession::Role::Master);
    RX_FUZZ_CHECK(!reported());
    RX_FUZZ_CHECK(request_sent);
    RX_FUZZ_CHECK(stream == rxpb::v1::STREAM_STDOUT || stream == rxpb::v1::STREAM_STDERR);
    (stream == rxpb::v1::STREAM_STDOUT ? stdout_bytes : stderr_bytes) += data.size();
    ++outputs;
  }
  void onResult(const rxpb::v1::ExecResult& r) override {
    RX_FUZZ_CHECK(role_ != ClientSession::Role::Master);
    RX_FUZZ_CHECK(!reported());
    RX_FUZZ_CHECK(request_sent);
    RX_FUZZ_CHECK(r.exec_id() == ClientSession::kExecId);
    RX_FUZZ_CHECK(r.stdout_bytes() == stdout_bytes && r.stderr_bytes() == stderr_bytes);
    RX_FUZZ_CHECK(r.outcome_case() != rxpb::v1::ExecResult::OUTCOME_NOT_SET);
    ++results;
  }
  void onFailure(const std::string& message) override {
    RX_FUZZ_CHECK(!reported());
    RX_FUZZ_CHECK(!message.empty());
    ++failures;
  }

  bool reported() const { return results + failures > 0; }

  bool request_sent = false;
  int exec_requests = 0;
  int results = 0;
  int failures = 0;
  size_t outputs = 0;
  size_t relayed = 0;
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
  std::string client_nonce;  // from the AuthResponse

 private:
  void onFrame(const Frame& f) {
    const size_t index = frames_++;
    switch (f.msg_case()) {
      case Frame::kAuthResponse:
        RX_FUZZ_CHECK(role_ != ClientSession::Role::ViaMaster);
        RX_FUZZ_CHECK(index == 0);
        RX_FUZZ_CHECK(f.ByteSizeLong() <= kMaxFramePreAuth);
        RX_FUZZ_CHECK(f.auth_response().client_nonce().size() == kNonceSize);
        client_nonce = f.auth_response().client_nonce();
        // The daemon allows the larger frames only after authentication.
        decoder_.setMaxPayload(kMaxFramePostAuth);
        break;
      case Frame::kExecRequest:
        RX_FUZZ_CHECK(role_ != ClientSession::Role::Master);
        RX_FUZZ_CHECK(index == (role_ == ClientSession::Role::ViaMaster ? 0u : 1u));
        RX_FUZZ_CHECK(f.exec_request().exec_id() == ClientSession::kExecId);
        ++exec_requests;
        break;
      case Frame::kStdinData:
      case Frame::kStdinClose:
      case Frame::kSignal:
        RX_FUZZ_CHECK(role_ != ClientSession::Role::Master);
        RX_FUZZ_CHECK(index >= (role_ == ClientSession::Role::ViaMaster ? 1u : 2u));
        break;
      default:
        RX_FUZZ_CHECK(!"a server-to-client message type from the client");
    }
  }

  ClientSession::Role role_;
  size_t frames_ = 0;
  FrameDecoder decoder_{kMaxFramePreAuth};
};

ExecParams fuzzParams() {
  ExecParams p;
  p.argv = {"ls", "-l"};
  p.cwd = "/srv";
  p.env = {{"LANG", "C"}};
  p.stdin_open = true;
  p.timeout_ms = 1000;
  return p;
}

constexpr std::string_view kTarget = "[127.0.0.1]:5599";

// The honest server's first two frames; the AuthResult proves the key for the client's nonce.
void handshake(ClientSession& session, FuzzClientHost& host, const ClientKey& key, bool challenge_only) {
  Frame challenge;
  auto* c = challenge.mutable_auth_challenge();
  c->set_protocol_version(kProtocolVersion);
  c->set_features(rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS | rxpb::v1::FEATURE_MULTI_EXEC);
  if (session.role() == ClientSession::Role::ViaMaster) {
    c->set_master_target(std::string(kTarget));  // the master's greeting: no nonce, and where it leads
    session.onBytes(encodeFrame(challenge));
    RX_FUZZ_CHECK(host.request_sent && !session.done());
    return;
  }
  c->set_server_nonce(fuzz::fixedServerNonce());
  session.onBytes(encodeFrame(challenge));
  RX_FUZZ_CHECK(host.request_sent == (session.role() == ClientSession::Role::OneCommand) && !session.done());
  if (challenge_only) return;
  Frame result;
  result.mutable_auth_result()->set_ok(true);
  result.mutable_auth_result()->set_server_proof(serverProof(
      fuzz::authorizedFor(key, 1),
      ProofInput{fuzz::fixedServerNonce(), host.client_nonce, fuzz::channelBinding(), key.key_id}));
  session.onBytes(encodeFrame(result));
  RX_FUZZ_CHECK(!session.done());  // an honest server is accepted
  RX_FUZZ_CHECK(host.request_sent);
}

constexpr std::string_view kSignalNames[] = {"INT", "TERM", "HUP", "KILL", "NOPE", ""};

void run(fuzz::InputReader& input) {
  const uint8_t mode = input.u8();
  const ClientKey& key = (mode & in::kModeEd25519) ? fuzz::ed25519Key() : fuzz::hmacKey();
  const ClientSession::Role role = (mode & in::kModeViaMaster) ? ClientSession::Role::ViaMaster
                                   : (mode & in::kModeMaster)  ? ClientSession::Role::Master
                                                               : ClientSession::Role::OneCommand;
  FuzzClientHost host(role);
  ClientSession session(key, fuzzParams(), host);
  session.setRole(role, role == ClientSession::Role::ViaMaster ? std::string(kTarget) : std::string());
  const bool via_master = role == ClientSession::Role::ViaMaster;
  const bool channel = !(mode & in::kModeNoChannel);
  if (channel) session.onSecureChannel(fuzz::channelBinding());
  const bool server_proven = channel && (mode & in::kModeHandshake) && !(mode & in::kModeChallengeOnly);
  if ((channel || via_master) && (mode & in::kModeHandshake))
    handshake(session, host, key, mode & in::kModeChallengeOnly);

  while (!input.empty()) {
    switch (input.u8() % in::kOpCount) {
      case in::kFeed: {
        const uint16_t n = input.u16();
        const std::string_view bytes = input.bytes(n);
        if (!bytes.empty()) session.onBytes(bytes);
        break;
      }
      case in::kStdin: {
        const std::string_view bytes = input.bytes(input.u8());
        if (!bytes.empty()) session.sendStdin(bytes);
        break;
      }
      case in::kCloseStdin:
        session.closeStdin();
        break;
      case in::kSignal:
        session.sendSignal(kSignalNames[input.u8() % std::size(kSignalNames)]);
        break;
      case in::kClosed:
        session.onClosed("fuzz");
        RX_FUZZ_CHECK(session.done());
        break;
    }
    RX_FUZZ_CHECK(host.results + host.failures <= 1);
    RX_FUZZ_CHECK(session.done() == host.reported());
    // An HMAC client trusts nothing from a server that has not proven the key; the fuzzer
    // cannot, as the proof covers the client's random nonce.
    if (key.type == KeyType::HmacSha256 && !server_proven && !via_master)
      RX_FUZZ_CHECK(host.outputs == 0 && host.results == 0 && host.relayed == 0);
    if (!channel && !via_master) RX_FUZZ_CHECK(!host.request_sent);
  }
  session.onClosed("end of input");
  RX_FUZZ_CHECK(session.done() && host.results + host.failures == 1);
}

}  // namespace
}  // namespace rx

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rx::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rx::fuzz::InputReader input(data, size);
  rx::run(input);
  return 0;
}
