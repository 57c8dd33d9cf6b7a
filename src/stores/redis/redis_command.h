// RESP encoding and decoding, both done by hiredis (its command formatter and reply reader):
// the client only moves bytes.
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "stores/redis/redis_reply.h"

struct redisReader;

namespace portico::stores::redis {

// Appends one command, its arguments binary-safe, to `out`.
void append_command(std::string& out, std::span<const std::string> argv);
void append_command(std::string& out, std::initializer_list<std::string_view> argv);

// Splits a byte stream into replies.
class ReplyReader {
 public:
  enum class Next { Reply, NeedMore, Malformed };

  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  void feed(std::string_view bytes);
  // Fills `out` with the next complete reply, if the bytes fed so far hold one.
  Next next(RedisReply& out);
  std::string error() const;  // hiredis's description, after Malformed

 private:
  redisReader* reader_;
};

}  // namespace portico::stores::redis
