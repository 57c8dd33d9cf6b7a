// The Redis client of one worker: lives on that worker's io_context and is only used from its
// thread, so a call never hops threads and never blocks. One pipelined connection per server
// (per node in a Redis Cluster, routed by key slot, MOVED and ASK followed).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "stores/redis/redis_reply.h"
#include "stores/redis/redis_script.h"

namespace portico::stores::redis {

struct RedisOptions {
  // redis://[[user]:password@]host[:port][/db] or rediss://... (TLS); empty when `cluster` is set.
  std::string url;
  // Redis Cluster seed nodes, "host:port" (or redis:// / rediss:// URLs, whose scheme and login
  // every node then shares). Any one of them that answers gives the slot map.
  std::vector<std::string> cluster;
  std::string password;                   // replaces the URL's
  std::chrono::milliseconds timeout{50};  // per call: connecting, writing and the reply
  std::string tls_ca_file;  // rediss:// peers are verified against it; empty: the system's CAs
};

class RedisClient {
 public:
  static constexpr int max_redirects = 5;

  // Throws std::invalid_argument for a bad URL or seed and std::runtime_error for an unusable
  // CA file: clients are made while starting up. Connects on the first call.
  RedisClient(boost::asio::io_context& io, RedisOptions options);
  ~RedisClient();  // close()
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command. In cluster mode it goes to the node serving the slot of argv[key_index], the
  // first key for most commands; with no argument there, to any node. Never throws.
  boost::asio::awaitable<CallResult> call(std::vector<std::string> argv, std::size_t key_index = 1);

  // EVALSHA; on NOSCRIPT the script is sent once with EVAL, which also caches it on the server
  // (each of the two with its own timeout).
  // In cluster mode every key must be in one slot (use a hash tag): it goes where keys[0] goes.
  // `script` must outlive the call.
  boost::asio::awaitable<CallResult> eval(const RedisScript& script, std::vector<std::string> keys,
                                          std::vector<std::string> args);

  bool connected() const;  // to the server, or to at least one cluster node
  // Fails pending calls with Connection and closes every connection; later calls fail too.
  void close();

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with calls in flight, which may outlive the client
};

}  // namespace portico::stores::redis
