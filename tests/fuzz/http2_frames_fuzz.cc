// libFuzzer target: arbitrary bytes after the client preface, fed to the HTTP/2 server codec in
// arbitrary splits, with every request answered (a body, or none) as the driver would. It must
// never crash, leak or hang, whatever frames arrive, and must stop taking input once it has
// decided the connection ends.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http2/codec.h"

namespace {

using portico::http2::Codec;
using portico::http2::StreamBase;

struct Answering final : Codec::Events {
  Codec* codec = nullptr;
  std::vector<std::unique_ptr<StreamBase>> streams;
  std::vector<StreamBase*> to_answer;
  StreamBase* open_stream(std::int32_t) override {
    if (streams.size() > 256) return nullptr;
    streams.push_back(std::make_unique<StreamBase>());
    return streams.back().get();
  }
  void on_request(StreamBase& stream, bool) override { to_answer.push_back(&stream); }
  void on_data(StreamBase& stream, const std::uint8_t*, std::size_t size) override {
    codec->consume(stream, size);
  }
  void on_remote_end(StreamBase&) override {}
  void on_closed(StreamBase& stream, std::uint32_t) override {
    std::erase(to_answer, &stream);
  }
  long read_body(StreamBase& stream, std::uint8_t* buffer, std::size_t size, bool& eof) override {
    // Body length from the path's size, so both paths (with and without DATA) are taken.
    auto n = std::min<std::size_t>(size, stream.request.target.size() % 3 * 7000);
    std::fill_n(buffer, n, 'x');
    eof = true;
    return static_cast<long>(n);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t split = data[0];
  ++data;
  --size;
  Answering events;
  portico::http2::CodecSettings settings;
  settings.max_header_bytes = 4096;
  settings.max_concurrent_streams = 16;
  Codec codec(settings, events);
  events.codec = &codec;
  auto preface = Codec::preface;
  codec.receive(reinterpret_cast<const std::uint8_t*>(preface.data()), preface.size(), 0);
  std::string out;
  std::size_t at = 0;
  std::int64_t now = 0;
  while (at < size) {
    std::size_t n = std::min(size - at, split + 1);
    bool go_on = codec.receive(data + at, n, now);
    at += n;
    now += 7;
    for (auto* stream : events.to_answer) {
      portico::core::ResponseHead head;
      head.status = 200;
      head.add("content-type", "text/plain");
      codec.submit_response(*stream, head, stream->request.method != "HEAD", false);
      codec.answered();
    }
    events.to_answer.clear();
    out.clear();
    codec.pending_output(out);
    if (!go_on || codec.finished()) break;
  }
  return 0;
}
