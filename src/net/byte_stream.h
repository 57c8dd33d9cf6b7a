// A connected byte stream as a relay sees it: the upstream's side of a switched (WebSocket)
// connection, whatever carries it (TCP, TLS).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string_view>
#include <tuple>

namespace portico::net {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer buffer) = 0;
  virtual boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(
      boost::asio::const_buffer bytes) = 0;
  // Ends pending reads and writes.
  virtual void cancel() = 0;
  // Bytes that arrived behind the head that switched protocols: the relay sends them first.
  virtual std::string_view take_early_bytes() = 0;
  // A buffer the relay may read into.
  virtual boost::asio::mutable_buffer scratch() = 0;
};

}  // namespace portico::net
