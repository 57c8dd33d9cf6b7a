// Response compression on routes with `compress: true`. on_response picks the encoding from
// the request's Accept-Encoding and rewrites the head (Content-Encoding, no length, Vary, a weak
// ETag); on_body compresses each piece as it passes and flushes it, so a streamed answer (server-
// sent events) reaches the client as it comes, and finishes the stream with the last piece.
// What is not compressed, and why, is in docs/compression.md.
#pragma once

#include <string>
#include <vector>

#include "filters/compress/accept_encoding.h"
#include "filters/compress/compress_config.h"
#include "filters/compress/stream_compressor.h"
#include "proxy/filter.h"

namespace portico::filters::compress {

class CompressFilter final : public proxy::Filter {
 public:
  explicit CompressFilter(const CompressionConfig& config);

  std::string_view name() const override { return "compress"; }
  proxy::Next on_response(proxy::RequestContext& ctx, core::ResponseHead& head) const override;
  void on_body(proxy::RequestContext& ctx, proxy::BodyChunk& chunk) const override;

  // Whether an answer with this Content-Type may be compressed (parameters ignored).
  bool compressible_type(std::string_view content_type) const;

 private:
  // What one answer needs: its encoder, and the bytes handed on in place of the pieces.
  struct State {
    bool seen_head = false;  // on_response ran: a second head is a filter's replacement
    bool active = false;     // this answer's body is being compressed
    bool pending = false;    // bytes written since the last flush
    bool streamed = false;   // a piece went through the stream already
    std::string out;         // this piece's output; keeps its capacity between answers
    StreamCompressor compressor;
    void reset() {
      seen_head = active = pending = streamed = false;
      out.clear();
    }
  };

  bool eligible(const proxy::RequestContext& ctx, const core::ResponseHead& head) const;
  int level_of(Encoding encoding) const;

  std::vector<Encoding> preference_;
  std::uint64_t min_size_;
  std::vector<std::string> exact_types_;    // lower case: "application/json"
  std::vector<std::string> type_prefixes_;  // from "text/*": "text/"
  CompressionLevels levels_;
};

}  // namespace portico::filters::compress
