// One pipelined connection to one Redis server, on one worker's io_context. Commands are
// written as they come (what queues up while a write is in flight goes out in the next one)
// and replies are handed to the callers in the order the commands were written. One timer
// per connection watches the earliest deadline; a call past its deadline fails with Timeout
// and takes the connection down with it, since its reply, arriving later, would be taken for
// the next caller's. Connects (TCP, TLS, AUTH, SELECT) on the first call and again after any
// failure; after a failed connect, calls fail at once until a backoff has passed.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "stores/redis/redis_endpoint.h"
#include "stores/redis/redis_reply.h"

namespace portico::stores::redis {

using Clock = std::chrono::steady_clock;

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  static constexpr std::chrono::milliseconds first_backoff{100};
  static constexpr std::chrono::milliseconds max_backoff{2000};

  // `tls` is used when `endpoint.tls`; it must verify the peer (the client's context does).
  RedisConnection(boost::asio::any_io_executor executor, RedisEndpoint endpoint,
                  std::shared_ptr<boost::asio::ssl::context> tls);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends `command` (RESP bytes, possibly several commands) and completes with the reply at
  // position `skip` among theirs (ASKING's "+OK" is skipped that way). Completes with Timeout
  // when no reply has come by `deadline`, which also bounds connecting.
  boost::asio::awaitable<CallResult> call(std::string_view command, Clock::time_point deadline,
                                          int skip = 0);

  bool connected() const { return state_ == State::Connected; }
  const RedisEndpoint& endpoint() const { return endpoint_; }
  // Fails every pending call with Connection and closes the socket; the next call reconnects.
  void close();

 private:
  enum class State { Disconnected, Connecting, Connected };
  struct Session;
  struct Pending {
    Clock::time_point deadline;
    int skip = 0;
    boost::asio::any_completion_handler<void(CallResult)> handler;
  };

  void enqueue(std::string_view command, Clock::time_point deadline, int skip,
               boost::asio::any_completion_handler<void(CallResult)> handler);
  static boost::asio::awaitable<void> connect(std::shared_ptr<RedisConnection> self,
                                              std::shared_ptr<Session> session);
  static boost::asio::awaitable<void> read_loop(std::shared_ptr<RedisConnection> self,
                                                std::shared_ptr<Session> session);
  void start_write();
  void watch(Clock::time_point deadline);
  void on_timer();
  // Ends the session: pending calls past their deadline get `expired`, the others `error`.
  void fail_all(CallError error, CallError expired = CallError::Timeout);
  void complete(Pending& pending, CallResult result);

  boost::asio::any_io_executor executor_;
  RedisEndpoint endpoint_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  State state_ = State::Disconnected;
  std::shared_ptr<Session> session_;  // the current one; null while disconnected
  std::string outbox_;                // commands not written yet
  std::deque<Pending> pending_;       // in the order their commands were queued
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  std::chrono::milliseconds backoff_{first_backoff};
  Clock::time_point retry_at_{};  // no connect before this, after a failed one
};

}  // namespace portico::stores::redis
