// The frame codec without a network: encoding and decoding of the small frames of one command's
// protocol steps and of 64 KiB Output frames (the bulk of a stream), and a decoder fed one byte at
// a time (the worst case of TLS records cutting frames anywhere).
#include <benchmark/benchmark.h>

#include <string>

#include "common/frame_codec.h"
#include "common/limits.h"

namespace rx {
namespace {

using rxpb::v1::Frame;

Frame execRequest() {
  Frame f;
  auto* r = f.mutable_exec_request();
  r->set_exec_id(1);
  r->add_argv("make");
  r->add_argv("-j8");
  r->set_cwd("/srv/build");
  r->set_stdin_open(true);
  return f;
}

Frame execResult() {
  Frame f;
  auto* r = f.mutable_exec_result();
  r->set_exec_id(1);
  r->set_exit_code(0);
  r->set_stdout_bytes(123456789);
  r->set_wall_time_us(1234);
  return f;
}

Frame output(size_t size) {
  Frame f;
  auto* o = f.mutable_output();
  o->set_exec_id(1);
  o->set_stream(rxpb::v1::STREAM_STDOUT);
  o->set_data(std::string(size, 'x'));
  return f;
}

void BM_EncodeSmallFrames(benchmark::State& state) {
  const Frame req = execRequest(), res = execResult();
  std::string out;
  for (auto _ : state) {
    out.clear();
    appendFrame(out, req);
    appendFrame(out, res);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_EncodeSmallFrames);

void BM_DecodeSmallFrames(benchmark::State& state) {
  std::string wire;
  appendFrame(wire, execRequest());
  appendFrame(wire, execResult());
  FrameDecoder decoder(kMaxFramePostAuth);
  Frame frame;
  for (auto _ : state) {
    decoder.feed(wire);
    while (decoder.next(frame) == FrameDecoder::Result::Frame) benchmark::DoNotOptimize(frame.msg_case());
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_DecodeSmallFrames);

void BM_EncodeOutput64K(benchmark::State& state) {
  const Frame f = output(64 * 1024);
  std::string out;
  for (auto _ : state) {
    out.clear();
    appendFrame(out, f);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 64 * 1024);
}
BENCHMARK(BM_EncodeOutput64K);

void BM_DecodeOutput64K(benchmark::State& state) {
  const std::string wire = encodeFrame(output(64 * 1024));
  FrameDecoder decoder(kMaxFramePostAuth);
  Frame frame;
  for (auto _ : state) {
    decoder.feed(wire);
    if (decoder.next(frame) != FrameDecoder::Result::Frame) state.SkipWithError("no frame");
    benchmark::DoNotOptimize(frame.output().data().data());
  }
  state.SetBytesProcessed(state.iterations() * 64 * 1024);
}
BENCHMARK(BM_DecodeOutput64K);

// Arg: the frame's payload size; every byte is fed on its own and next() asked after each.
void BM_DecodeByteByByte(benchmark::State& state) {
  const std::string wire = encodeFrame(output(static_cast<size_t>(state.range(0))));
  FrameDecoder decoder(kMaxFramePostAuth);
  Frame frame;
  for (auto _ : state) {
    size_t frames = 0;
    for (char c : wire) {
      decoder.feed(std::string_view(&c, 1));
      if (decoder.next(frame) == FrameDecoder::Result::Frame) ++frames;
    }
    if (frames != 1) state.SkipWithError("expected one frame");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_DecodeByteByByte)->Arg(64)->Arg(64 * 1024);

}  // namespace
}  // namespace rx
