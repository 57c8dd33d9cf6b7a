#include "control/socket_timeout.h"

#include <boost/asio/steady_timer.hpp>

namespace portico::control {

struct SocketTimeout::State {
  explicit State(const boost::asio::any_io_executor& executor) : timer(executor) {}
  boost::asio::steady_timer timer;
  boost::asio::ip::tcp::socket* socket = nullptr;  // null once disarmed
  bool fired = false;
};

SocketTimeout::SocketTimeout(boost::asio::ip::tcp::socket& socket, Clock::time_point deadline)
    : state_(std::make_shared<State>(socket.get_executor())) {
  state_->socket = &socket;
  state_->timer.expires_at(deadline);
  // A handler queued just before the disarm still runs, hence the null check.
  state_->timer.async_wait([state = state_](const boost::system::error_code& ec) {
    if (ec || !state->socket) return;
    state->fired = true;
    boost::system::error_code ignored;
    state->socket->close(ignored);
  });
}

SocketTimeout::~SocketTimeout() {
  state_->socket = nullptr;
  state_->timer.cancel();
}

bool SocketTimeout::fired() const {
  return state_->fired;
}

}  // namespace portico::control
