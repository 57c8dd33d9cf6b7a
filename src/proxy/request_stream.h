// The seam between a codec and the session. A codec (HTTP/1 now, an HTTP/2 stream later)
// turns bytes into RequestStreams and hands each to a RequestHandler (the session), which
// routes it, runs filters and the action, and logs it; the codec owns framing, keep-alive and
// the connection's life.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/request_head.h"
#include "proxy/request_body.h"
#include "proxy/response_writer.h"

namespace portico::proxy {

// What is known of the connection a request came on.
struct ConnectionFacts {
  boost::asio::ip::address peer_address;
  std::string peer_ip;
  bool tls = false;
  std::string client_subject;  // the verified client certificate's subject (mutual TLS)
};

class RequestStream {
 public:
  virtual ~RequestStream() = default;
  // The parsed head; the session normalizes its path and joins its fields in place.
  virtual core::RequestHead& head() = 0;
  virtual RequestBody& body() = 0;
  // Where the answer goes: framing and bytes, nothing else (the session puts the route's
  // filters in front of it).
  virtual ResponseWriter& writer() = 0;
  virtual const ConnectionFacts& connection() const = 0;
  // The connection carries no request after this one (its bytes cannot be trusted to be at
  // the start of the next: a path the gateway refused, say).
  virtual void close_after() = 0;
  virtual std::uint64_t bytes_in() const = 0;   // of this request, as received
  virtual std::uint64_t bytes_out() const = 0;  // of its answer, as sent
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Serves one request. False when the connection must end at once: the answer broke off, or
  // the connection was switched to another protocol and that has ended.
  virtual boost::asio::awaitable<bool> serve(RequestStream& request) = 0;
  // A request the codec could not read (malformed, too large, too slow): answered with
  // `status`, the error `tag` logged. False when the client is gone.
  virtual boost::asio::awaitable<bool> refuse(RequestStream& request, int status,
                                              std::string_view tag) = 0;
  // The connection has gone quiet: give back per-request memory.
  virtual void idle() {}
};

}  // namespace portico::proxy
