// A worker's Redis clients, one per distinct `redis:` config (rate_limits and cache may name
// different servers), made on first use on the worker's thread and kept across reloads, so
// a reload that leaves `redis:` alone keeps its connections.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>

#include "config/redis_config.h"
#include "stores/redis/redis_client.h"

namespace portico::stores::redis {

class RedisClients {
 public:
  explicit RedisClients(boost::asio::io_context& io) : io_(io) {}

  // The client for `config`; null when the config cannot make one (a bad URL: the config
  // loader refuses those, so this is only a last line of defence).
  RedisClient* client_for(const config::RedisConfig& config);

  void close();  // drain: every client's pending calls fail, connections close

 private:
  boost::asio::io_context& io_;
  std::map<std::string, std::unique_ptr<RedisClient>> clients_;
};

}  // namespace portico::stores::redis
