// The request's body as the codec delivers it: pieces as they arrive, read on demand, so an
// action can stream it upstream with flat memory or, when it fits, hold all of it to send
// again (retries). Codec-neutral: HTTP/1 framing (Content-Length, chunked, 100-continue) and
// HTTP/2 DATA frames both come out as pieces.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>

#include "core/body_pieces.h"

namespace portico::proxy {

enum class BodyStatus { Ok, TooLarge, Malformed, ClientGone };

class RequestBody {
 public:
  virtual ~RequestBody() = default;
  // Parses what arrived with the head into pieces(); no read.
  virtual BodyStatus take_buffered() = 0;
  // Reads more from the client. `keep`: add to pieces() (a body held whole for replay);
  // otherwise pieces() holds only what this read brought.
  virtual boost::asio::awaitable<BodyStatus> read(bool keep) = 0;
  virtual const core::BodyPieces& pieces() const = 0;
  virtual bool complete() const = 0;  // every byte of the body has been read
  virtual bool has_room() const = 0;  // a kept body can still grow in the buffer
  // The client gave no length up front (chunked): the upstream copy goes chunked too.
  virtual bool chunked() const = 0;
  virtual std::optional<std::uint64_t> length() const = 0;
  // The client waits for an invitation before sending the body (Expect: 100-continue).
  virtual bool expects_continue() const = 0;
  virtual boost::asio::awaitable<bool> send_continue() = 0;
};

// No body at all: the requests the gateway makes itself (a background refresh, an aggregate's
// calls).
class EmptyBody final : public RequestBody {
 public:
  BodyStatus take_buffered() override { return BodyStatus::Ok; }
  boost::asio::awaitable<BodyStatus> read(bool) override { co_return BodyStatus::Ok; }
  const core::BodyPieces& pieces() const override { return pieces_; }
  bool complete() const override { return true; }
  bool has_room() const override { return true; }
  bool chunked() const override { return false; }
  std::optional<std::uint64_t> length() const override { return 0; }
  bool expects_continue() const override { return false; }
  boost::asio::awaitable<bool> send_continue() override { co_return true; }

 private:
  core::BodyPieces pieces_;
};

}  // namespace portico::proxy
