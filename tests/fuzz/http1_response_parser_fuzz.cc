// libFuzzer target: the upstream response parser (what an upstream sends back) fed arbitrary
// bytes in two pieces, head then body, then the end of the stream, as an exchange reads them.
// It must never crash, and must never report more body bytes than it was given.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <cstdlib>

#include "http1/response_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first byte picks where the input is split; the second, a HEAD request (no body).
  const bool head_request = data[1] & 1;
  const char* input = reinterpret_cast<const char*>(data + 2);
  std::size_t length = size - 2;
  std::size_t split = length ? data[0] % (length + 1) : 0;

  portico::core::ResponseHead head;
  portico::core::BodyPieces body;
  std::uint64_t body_bytes = 0;
  portico::http1::ResponseParser parser(head, body);
  parser.header_limit(8192);
  parser.body_limit(boost::none);
  parser.eager(false);
  if (head_request) parser.skip(true);
  boost::system::error_code ec;
  std::size_t used = 0;
  std::size_t available = split;
  for (int rounds = 0; rounds < 64 && !parser.is_done(); ++rounds) {
    body.clear();
    auto n = parser.put(boost::asio::buffer(input + used, available - used), ec);
    used += n;
    body_bytes += body.bytes;
    if (ec == boost::beast::http::error::need_more) {
      if (available == length) break;
      available = length;
      ec = {};
      continue;
    }
    if (ec) break;
    if (parser.is_header_done()) parser.eager(true);
    if (n == 0 && available == length) break;
  }
  if (!ec && parser.is_header_done() && parser.need_eof()) parser.put_eof(ec);
  if (body_bytes > length) std::abort();
  return 0;
}
