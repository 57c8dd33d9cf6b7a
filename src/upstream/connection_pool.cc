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

void ConnectionPool::keep_session_of(UpstreamConnection& connection) {
  if (auto session = connection.take_session_for_reuse()) tls_session_ = std::move(session);
}

void ConnectionPool::pass_slot() {
  if (!waiters_.empty() && open_ <= max_connections_) {
    auto* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->slot = true;
    waiter->timer->cancel();
    return;
  }
  if (open_ > 0) --open_;
}

void ConnectionPool::give_back(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection->socket.is_open()) {
    discard(std::move(connection));
    return;
  }
  keep_session_of(*connection);
  connection->idle_since = Clock::now();
  if (!waiters_.empty()) {
    auto* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->connection = std::move(connection);
    waiter->timer->cancel();
    return;
  }
  idle_.push_back(std::move(connection));
}

void ConnectionPool::remove_waiter(Waiter& waiter) {
  auto it = std::find(waiters_.begin(), waiters_.end(), &waiter);
  if (it != waiters_.end()) waiters_.erase(it);
}

void ConnectionPool::discard(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection) return;
  // A connection closed after a good exchange (HTTP/1.0, Connection: close) leaves a session
  // worth resuming too; one whose handshake failed has none that is resumable.
  keep_session_of(*connection);
  boost::system::error_code ignored;
  connection->socket.close(ignored);
  // Its place under the bound goes to the first waiter, unless a reload lowered the bound
  // below what is open.
  pass_slot();
}

void ConnectionPool::sweep(Clock::time_point now) {
  const auto idle_timeout = idle_timeout_;
  // Oldest connections sit at the front (give_back appends), but check every one anyway.
  std::size_t kept = 0;
  for (auto& connection : idle_) {
    if (now - connection->idle_since >= idle_timeout) {
      boost::system::error_code ignored;
      connection->socket.close(ignored);
      --open_;
    } else {
      idle_[kept++] = std::move(connection);
    }
  }
  idle_.resize(kept);
}

}  // namespace portico::upstream
