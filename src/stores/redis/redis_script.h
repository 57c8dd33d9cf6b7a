// A Lua script run with EVALSHA: its text and the SHA1 the server knows it by.
#pragma once

#include <string>

namespace portico::stores::redis {

class RedisScript {
 public:
  explicit RedisScript(std::string lua);

  const std::string& lua() const { return lua_; }
  const std::string& sha1() const { return sha1_; }  // 40 lowercase hex digits, as Redis prints

 private:
  std::string lua_;
  std::string sha1_;
};

}  // namespace portico::stores::redis
