#include "http1/response_encoder.h"
#include "core/text.h"

#include <charconv>

#include "core/error_body.h"

namespace portico::http1 {

namespace asio = boost::asio;
using namespace std::string_view_literals;

namespace {

constexpr std::string_view crlf = "\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";

}  // namespace

void append_chunk(std::vector<asio::const_buffer>& iov, const BodyPieces& body, bool last,
                  char (&prefix)[24]) {
  if (body.bytes > 0) {
    auto [end, ec] = std::to_chars(prefix, prefix + sizeof prefix - 2, body.bytes, 16);
    *end++ = '\r';
    *end++ = '\n';
    iov.push_back(asio::buffer(prefix, static_cast<std::size_t>(end - prefix)));
    for (auto piece : body.pieces) iov.push_back(asio::buffer(piece));
    iov.push_back(asio::buffer(crlf));
  }
  if (last) iov.push_back(asio::buffer(last_chunk));
}

void ResponseEncoder::encode_head(const core::ResponseHead& head, int request_version,
                                  bool head_only, bool& closing, std::string& out) {
  const int status = head.status;
  out += "HTTP/1.1 "sv;
  core::append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  auto reason = core::reason_phrase(status);
  out += reason == "Unknown" && !head.reason.empty() ? head.reason : reason;
  out += crlf;
  for (const auto& f : head.fields) {
    out += f.name;
    out += ": "sv;
    out += f.value;
    out += crlf;
  }
  // No body in these, whatever the head says (RFC 9110 6.4.1); 204 and 1xx carry no length.
  const bool bodyless = head_only || status == 204 || status == 304 || status < 200;
  if (bodyless) {
    framing_ = Framing::None;
    if (head.content_length && status != 204 && status >= 200 && !head.keep_framing) {
      out += "Content-Length: "sv;
      core::append_number(out, *head.content_length);
      out += crlf;
    }
  } else if (head.content_length) {
    framing_ = Framing::Length;
    out += "Content-Length: "sv;
    core::append_number(out, *head.content_length);
    out += crlf;
  } else if (request_version >= 11) {
    framing_ = Framing::Chunked;
    out += "Transfer-Encoding: chunked\r\n"sv;
  } else {
    // An HTTP/1.0 client knows no chunks: the end of the connection ends the body.
    framing_ = Framing::UntilClose;
    closing = true;
  }
  // HTTP/1.1 keeps connections open unless told; an HTTP/1.0 client that asked for keep-alive
  // must hear it confirmed, or it waits for the close.
  if (closing)
    out += "Connection: close\r\n"sv;
  else if (request_version == 10)
    out += "Connection: keep-alive\r\n"sv;
  out += crlf;
}

void ResponseEncoder::encode_body(const BodyPieces& body, bool last,
                                  std::vector<asio::const_buffer>& iov) {
  switch (framing_) {
    case Framing::None:
      return;
    case Framing::Chunked:
      append_chunk(iov, body, last, chunk_prefix_);
      return;
    case Framing::Length:
    case Framing::UntilClose:
      for (auto piece : body.pieces) iov.push_back(asio::buffer(piece));
      return;
  }
}

}  // namespace portico::http1
