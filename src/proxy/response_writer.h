// Where an action sends its answer: the client's stream, whatever the codec (HTTP/1 now,
// HTTP/2 streams later). Codec-neutral: a head, then body pieces, then the end. The session
// puts the route's response filters between an action and the codec, so what an action
// writes is what filters see (on_response, on_body) before it leaves.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>

#include "core/body_pieces.h"
#include "core/response_head.h"

namespace portico::net {
class ByteStream;
}

namespace portico::proxy {

using BodyPieces = core::BodyPieces;

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Starts the answer. Nothing is written yet: the head leaves with the first body bytes,
  // so a small answer is one write. The head may be edited by filters in between.
  virtual void start(core::ResponseHead& head) = 0;
  // Body bytes (views valid until this returns); `last` ends the answer. False when the
  // client is gone: the action stops.
  virtual boost::asio::awaitable<bool> write(const BodyPieces& body, bool last) = 0;
  // False once the rest of the body would be thrown away (a filter answered instead): an
  // action can stop reading its source.
  virtual bool wants_body() const { return true; }
  // The upstream switched protocols (101 to a WebSocket upgrade): the head goes to the client
  // and the connection becomes a two-way byte relay with `upstream` until either side closes
  // or both are silent for `idle_timeout`. False when the codec cannot relay (HTTP/2 without
  // extended CONNECT, say). Returns when the relay has ended.
  virtual boost::asio::awaitable<bool> switch_protocols(core::ResponseHead& head,
                                                        net::ByteStream& upstream,
                                                        std::chrono::milliseconds idle_timeout) = 0;
  // An answer whose body is `body` in full.
  boost::asio::awaitable<bool> write_all(std::string_view body) {
    BodyPieces pieces;
    pieces.add(body);
    co_return co_await write(pieces, true);
  }
};

}  // namespace portico::proxy
