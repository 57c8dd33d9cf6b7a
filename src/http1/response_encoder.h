// HTTP/1.1 bytes for codec-neutral answers on one client connection: the status line, the
// fields, the framing the request and the head's length call for (Content-Length, chunked, or
// the connection's end), and the chunk framing of body pieces. Reused answer after answer.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/body_pieces.h"
#include "core/response_head.h"

namespace portico::http1 {

using core::BodyPieces;

// Appends `body` as one chunk (nothing when empty) and, when `last`, the last-chunk; `prefix`
// holds the chunk-size line and must live as long as the buffers.
void append_chunk(std::vector<boost::asio::const_buffer>& iov, const BodyPieces& body, bool last,
                  char (&prefix)[24]);

class ResponseEncoder {
 public:
  // Writes the head into `out` (after what is there). `request_version` is 10 or 11;
  // `head_only`: the request was HEAD. `closing` says whether the connection ends after this
  // answer; it is set here when the body can end only by closing (an HTTP/1.0 client, no
  // length).
  void encode_head(const core::ResponseHead& head, int request_version, bool head_only,
                   bool& closing, std::string& out);
  // The buffers of body pieces in the framing encode_head chose, appended to `iov`; `last`
  // ends the body. Nothing for an answer without a body.
  void encode_body(const BodyPieces& body, bool last, std::vector<boost::asio::const_buffer>& iov);
  bool has_body() const { return framing_ != Framing::None; }

 private:
  enum class Framing { None, Length, Chunked, UntilClose };
  Framing framing_ = Framing::None;
  char chunk_prefix_[24] = {};
};

}  // namespace portico::http1
