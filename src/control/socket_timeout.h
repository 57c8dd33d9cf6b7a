// One deadline for an exchange made of several operations (connect, TLS handshake, write,
// read): when it passes, the socket is closed, which ends whatever operation is pending.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

namespace portico::control {

using Clock = std::chrono::steady_clock;

// Lives beside the socket it guards, on the socket's (single-threaded) executor; destroying it
// disarms it.
class SocketTimeout {
 public:
  SocketTimeout(boost::asio::ip::tcp::socket& socket, Clock::time_point deadline);
  ~SocketTimeout();
  SocketTimeout(const SocketTimeout&) = delete;
  SocketTimeout& operator=(const SocketTimeout&) = delete;

  bool fired() const;  // the deadline passed and the socket was closed

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the timer's handler, which may outlive this
};

}  // namespace portico::control
