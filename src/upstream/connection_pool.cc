#include "upstream/connection_pool.h"

#include <algorithm>

namespace portico::upstream {

std::unique_ptr<UpstreamConnection> ConnectionPool::take_idle() {
  // Most recently used first: it is the least likely to have been closed by the peer.
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->socket.is_open()) return connection;
    --open_;
  }
  return nullptr;
}

void ConnectionPool::give_back(std::unique_ptr<UpstreamConnection> connection) {
  connection->idle_since = Clock::now();
  ++connection->exchanges;
  idle_.push_back(std::move(connection));
  wake_one();
}

void ConnectionPool::remove_waiter(boost::asio::steady_timer& timer) {
  auto it = std::find(waiters_.begin(), waiters_.end(), &timer);
  if (it != waiters_.end()) waiters_.erase(it);
}

void ConnectionPool::wake_one() {
  if (waiters_.empty()) return;
  waiters_.front()->cancel();
  waiters_.pop_front();
}

void ConnectionPool::discard(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection) return;
  boost::system::error_code ignored;
  connection->socket.close(ignored);
  if (open_ > 0) --open_;
  wake_one();
}

void ConnectionPool::sweep(Clock::time_point now, std::chrono::milliseconds idle_timeout) {
  auto expired = [&](const std::unique_ptr<UpstreamConnection>& c) {
    return now - c->idle_since >= idle_timeout;
  };
  auto first = std::remove_if(idle_.begin(), idle_.end(), expired);
  for (auto it = first; it != idle_.end(); ++it) {
    boost::system::error_code ignored;
    (*it)->socket.close(ignored);
    --open_;
  }
  idle_.erase(first, idle_.end());
}

}  // namespace portico::upstream
