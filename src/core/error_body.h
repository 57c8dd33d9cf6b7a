// The JSON body of every answer the gateway makes itself (behaviour.md "Errors").
#pragma once

#include <string>
#include <string_view>

namespace portico::core {

// Reason phrase for a status code ("Not Found"); "Unknown" for codes it does not know.
std::string_view reason_phrase(int status);

// Human message the gateway uses for its own answers with this status.
std::string_view default_error_message(int status);

// {"error":"...","status":N,"request_id":"..."} appended to `out`.
void append_error_body(std::string& out, int status, std::string_view message,
                       std::string_view request_id);

// Appends `text` as a JSON string body (without quotes), escaping what JSON requires.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace portico::core
