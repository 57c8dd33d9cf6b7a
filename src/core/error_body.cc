#include "core/error_body.h"

#include <charconv>

#include "core/text.h"

namespace portico::core {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string_view default_error_message(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "authentication required";
    case 403:
      return "forbidden";
    case 404:
      return "no route matches this request";
    case 405:
      return "method not allowed on this route";
    case 408:
      return "request head not received in time";
    case 413:
      return "request body too large";
    case 429:
      return "rate limit exceeded";
    case 431:
      return "request header fields too large";
    case 501:
      return "not implemented";
    case 502:
      return "upstream unavailable";
    case 503:
      return "service unavailable";
    case 504:
      return "upstream timed out";
    default:
      return reason_phrase(status);
  }
}

void append_json_escaped(std::string& out, std::string_view text) {
  constexpr const auto& hex = hex_digits;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
}

void append_error_body(std::string& out, int status, std::string_view message,
                       std::string_view request_id) {
  out += R"({"error":")";
  append_json_escaped(out, message);
  out += R"(","status":)";
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, status);
  out.append(digits, end);
  out += R"(,"request_id":")";
  append_json_escaped(out, request_id);
  out += "\"}";
}

}  // namespace portico::core
