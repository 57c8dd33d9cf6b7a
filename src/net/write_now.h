// A gather write tried at once, before any asynchronous one. Most heads and bodies fit in the
// socket's send buffer, and then a single sendmsg is the whole write: no suspension of the
// coroutine, no composed operation, no reactor registration.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <vector>

namespace portico::net {

// Writes what the socket takes now, without blocking (the socket is put in non-blocking mode).
// Returns the bytes written: all, some, or 0 when the socket would block; `ec` is set only
// for a real error (the peer reset, ...).
template <class Socket, class ConstBuffers>
std::size_t write_now(Socket& socket, const ConstBuffers& pieces, boost::system::error_code& ec) {
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);
    if (ec) return 0;
  }
  std::size_t n = socket.write_some(pieces, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) ec = {};
  return ec ? 0 : n;
}

// Drops the first `n` bytes of `pieces` (what write_now wrote), leaving the rest to write.
inline void consume(std::vector<boost::asio::const_buffer>& pieces, std::size_t n) {
  std::size_t whole = 0;
  while (whole < pieces.size() && n >= pieces[whole].size()) n -= pieces[whole++].size();
  pieces.erase(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(whole));
  if (!pieces.empty() && n > 0) pieces.front() += n;
}

}  // namespace portico::net
