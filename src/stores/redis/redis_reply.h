// What a Redis call gives back: the server's reply, or why there is none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portico::stores::redis {

struct RedisReply {
  enum class Type { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  long long integer = 0;
  std::string text;                  // String, Status and Error (the message, "ERR ...")
  std::vector<RedisReply> elements;  // Array

  bool is_error() const { return type == Type::Error; }
  // True for an Error whose first word is `code` ("NOSCRIPT", "MOVED").
  bool is_error(std::string_view code) const {
    return type == Type::Error && text.size() >= code.size() &&
           std::string_view{text}.substr(0, code.size()) == code &&
           (text.size() == code.size() || text[code.size()] == ' ');
  }
};

// A server's error reply is not a CallError: it is a RedisReply of Type::Error.
enum class CallError {
  None,
  Timeout,     // no reply within the call's timeout; the connection was dropped
  Connection,  // not connected (refused, closed, TLS or AUTH failed, backing off, closed)
  Protocol,    // the server sent bytes that are not RESP, or a reply nobody asked for
};

struct CallResult {
  CallError error = CallError::None;
  RedisReply reply;

  bool ok() const { return error == CallError::None; }
};

inline std::string_view to_string(CallError error) {
  switch (error) {
    case CallError::None:
      return "none";
    case CallError::Timeout:
      return "timeout";
    case CallError::Connection:
      return "connection";
    case CallError::Protocol:
      return "protocol";
  }
  return "unknown";
}

}  // namespace portico::stores::redis
