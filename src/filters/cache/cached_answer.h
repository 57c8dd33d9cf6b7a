// One stored answer (or, under a key whose answers vary by request headers the upstream
// named, the marker that lists those headers), with the times that decide how it may be
// served. Immutable once stored: hits share it. Times are Unix milliseconds, so an entry in
// Redis means the same to every instance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::filters::cache {

struct CachedAnswer {
  bool vary_marker = false;       // no answer: `vary` lists the headers that pick one
  std::vector<std::string> vary;  // the upstream's Vary names (lower case), marker only
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // as served, less per-request ones
  std::string body;
  std::string path;              // the request's path, for purges by prefix
  std::string route_tag;         // route name and cache settings, for purges on reload
  std::int64_t stored_ms = 0;    // Age counts from here
  std::int64_t initial_age = 0;  // the upstream's own Age, seconds
  std::int64_t fresh_until_ms = 0;
  std::int64_t stale_while_revalidate_until_ms = 0;
  std::int64_t stale_if_error_until_ms = 0;

  std::string_view header(std::string_view name) const;  // case-insensitive; empty if absent
  std::int64_t age_seconds(std::int64_t now_ms) const;
  // Bytes it holds (what the memory store's bound counts, its key aside).
  std::size_t size() const;
  // How long a store must keep it: until the last moment it may still be served.
  std::int64_t keep_until_ms() const;
};

// The Redis store's form of an entry: a version byte and length-prefixed fields.
std::string serialize(const CachedAnswer& answer);
// nullopt for anything that is not an entry this build wrote.
std::optional<CachedAnswer> deserialize(std::string_view bytes);

}  // namespace portico::filters::cache
