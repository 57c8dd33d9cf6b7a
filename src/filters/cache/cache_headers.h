// The header grammars the cache reads (RFC 9111 Cache-Control, RFC 9110 Vary, entity tags
// and HTTP dates), parsed leniently: what cannot be read is treated as absent, never as an
// error, so a malformed header only ever makes the cache more careful.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::filters::cache {

struct CacheControl {
  bool no_store = false;
  bool no_cache = false;
  bool is_private = false;
  bool is_public = false;
  bool no_transform = false;
  std::optional<std::int64_t> max_age;   // seconds
  std::optional<std::int64_t> s_maxage;  // seconds
};

// Every Cache-Control field value of a message, joined by commas.
CacheControl parse_cache_control(std::string_view value);

// The field names a Vary value lists, lower-cased; "*" stays "*".
std::vector<std::string> parse_vary(std::string_view value);

// If-None-Match against a stored ETag, by the weak comparison (RFC 9110 13.1.2): "*" or any
// listed tag whose opaque part equals the stored one.
bool none_match_hits(std::string_view if_none_match, std::string_view etag);

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds since the epoch; nullopt for
// anything else (the obsolete formats included: a conditional we cannot read is not met).
std::optional<std::int64_t> parse_http_date(std::string_view text);

}  // namespace portico::filters::cache
