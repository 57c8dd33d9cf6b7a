// libFuzzer target: the HTTP/1.1 request parser fed arbitrary bytes in arbitrary splits, as a
// session would (head first, then body eagerly). It must never crash, and must never report
// more body bytes than it was given.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <cstdlib>

#include "http1/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks where the input is split, to exercise incremental parsing.
  std::size_t split = data[0] % (size);
  const char* input = reinterpret_cast<const char*>(data + 1);
  std::size_t length = size - 1;
  split = length ? split % (length + 1) : 0;

  portico::core::RequestHead head;
  portico::core::BodyPieces body;
  portico::http1::RequestParser parser(head, body);
  parser.limits(4096, 1 << 20);
  parser.eager(false);
  boost::system::error_code ec;
  std::size_t used = 0;
  std::size_t available = split;
  for (int rounds = 0; rounds < 64 && !parser.is_done(); ++rounds) {
    auto n = parser.put(boost::asio::buffer(input + used, available - used), ec);
    used += n;
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
  if (body.bytes > length) std::abort();
  return 0;
}
