// Where one Redis server is and how to log in to it, as a redis:// or rediss:// URL says.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::stores::redis {

struct RedisEndpoint {
  std::string host;  // a name or an IP address, without brackets
  std::uint16_t port = 6379;
  bool tls = false;  // rediss://
  std::string user;  // empty: AUTH with the password alone (the "default" user)
  std::string password;
  int db = 0;  // SELECTed after AUTH when not 0

  std::string address() const;  // "host:port", the key of a node in a cluster
};

// Parses "redis://[[user]:password@]host[:port][/db]" or "rediss://...", and for cluster seeds
// also a bare "host:port". An error message, or empty when `out` is filled.
std::string parse_endpoint(std::string_view text, RedisEndpoint& out);

}  // namespace portico::stores::redis
