// Per-worker keep-alive connections to one upstream target. A connection goes back to the pool
// only when its previous exchange ended cleanly (see actions/proxy); idle ones are closed after
// the upstream's `timeouts.idle`.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "upstream/upstream_connection.h"

namespace portico::upstream {

class ConnectionPool {
 public:
  ConnectionPool(std::string key, std::uint64_t max_connections)
      : key_(std::move(key)), max_connections_(max_connections) {}

  const std::string& key() const { return key_; }  // "host:port"

  // An idle connection, or null when none is pooled.
  std::unique_ptr<UpstreamConnection> take_idle();
  // Room for one more connection (idle + in use) under max_connections?
  bool can_open() const { return open_ < max_connections_; }
  void opened() { ++open_; }
  // The connection ended its exchange cleanly: keep it for reuse.
  void give_back(std::unique_ptr<UpstreamConnection> connection);
  // The connection will not be reused (closed, failed, or handed elsewhere).
  void discard(std::unique_ptr<UpstreamConnection> connection);
  // Closes idle connections unused for the upstream's idle timeout (the last config naming
  // this target sets it).
  void sweep(Clock::time_point now);
  void set_idle_timeout(std::chrono::milliseconds timeout) { idle_timeout_ = timeout; }
  void set_max_connections(std::uint64_t max) { max_connections_ = max; }

  // A request waiting for a connection when the pool is at max_connections. What frees one
  // goes to the first waiter, not back to the pool, so a request arriving meanwhile cannot
  // take it and a waiter never wakes to nothing: a connection coming back is handed over in
  // `connection`; one closing leaves its place under the bound to the waiter (`slot`: it may
  // open a connection, already counted). Either cancels `timer`, which wakes the request.
  struct Waiter {
    explicit Waiter(boost::asio::steady_timer& wake) : timer(&wake) {}
    boost::asio::steady_timer* timer;
    std::unique_ptr<UpstreamConnection> connection;
    bool slot = false;
  };
  void add_waiter(Waiter& waiter) { waiters_.push_back(&waiter); }
  void remove_waiter(Waiter& waiter);  // when it stops waiting (its timer expired)
  // The waiter's slot is used to open a connection now: opened() counts it again.
  void use_slot() { --open_; }
  // A waiter's slot it will not use: the next waiter's, or free.
  void pass_slot();
  std::size_t idle_count() const { return idle_.size(); }
  // The TLS session new connections to this target offer to resume (null: none yet), as
  // nginx's proxy_ssl_session_reuse does: a connection the pool has to open again costs one
  // round trip less and no certificate chain. Per worker, so no lock.
  SSL_SESSION* tls_session() const { return tls_session_.get(); }
  std::uint64_t open_count() const { return open_; }
  // No connection open or in use, nothing waiting: nothing refers to the pool any more.
  bool unused() const { return open_ == 0 && idle_.empty() && waiters_.empty(); }

 private:
  std::string key_;
  std::uint64_t max_connections_;
  std::uint64_t open_ = 0;  // idle + in use
  std::chrono::milliseconds idle_timeout_{std::chrono::seconds(60)};
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
  std::deque<Waiter*> waiters_;
  std::shared_ptr<SSL_SESSION> tls_session_;
  void keep_session_of(UpstreamConnection& connection);
};

}  // namespace portico::upstream
