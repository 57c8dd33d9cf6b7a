#include "routing/path_normalizer.h"

#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace portico::routing {
namespace {

// RFC 3986 sets from Boost.URL: a path is '/' and pchar (unreserved, sub-delims, ':' and '@')
// plus %-escapes. Everything else is refused rather than passed on: controls and DEL, space,
// '"' '<' '>' '\' '^' '`' '{' '|' '}' '[' ']', '?' and '#' (the caller has split the query
// off, so they cannot belong here), and raw bytes >= 0x80. Backslash especially: some
// upstreams treat it as a separator, which would let "/public\..\admin" dodge routing.
constexpr auto& kPathChars = boost::urls::pchars;
constexpr auto& kUnreserved = boost::urls::unreserved_chars;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kUpperHex[] = "0123456789ABCDEF";

}  // namespace

NormalizeResult normalize_path(std::string_view raw_path, std::string& out) {
  out.clear();
  if (raw_path.empty() || raw_path.front() != '/') return NormalizeResult::Invalid;
  // Decoding and merging only shrink the path, so one reservation is enough for the whole run.
  out.reserve(raw_path.size());
  out.push_back('/');

  // Invariant between segments: `out` starts and ends with '/', so the segment being written
  // starts at out.size() and ".." can find its parent by looking back from there.
  std::size_t i = 1;
  const std::size_t n = raw_path.size();
  while (i < n) {
    if (raw_path[i] == '/') {  // repeated '/': an empty segment is dropped
      ++i;
      continue;
    }
    const std::size_t segment_start = out.size();
    while (i < n && raw_path[i] != '/') {
      const char c = raw_path[i];
      if (c == '%') {
        if (n - i < 3) return NormalizeResult::Invalid;
        const int hi = hex_value(raw_path[i + 1]);
        const int lo = hex_value(raw_path[i + 2]);
        if (hi < 0 || lo < 0) return NormalizeResult::Invalid;
        const char decoded = static_cast<char>(hi * 16 + lo);
        if (kUnreserved(decoded)) {
          out.push_back(decoded);
        } else {
          // Reserved bytes keep their escape, so "%2F" never becomes a separator and "%3F"
          // never starts a query; upper-case hex gives one spelling per path.
          out.push_back('%');
          out.push_back(kUpperHex[hi]);
          out.push_back(kUpperHex[lo]);
        }
        i += 3;
        continue;
      }
      if (!kPathChars(c)) return NormalizeResult::Invalid;
      out.push_back(c);
      ++i;
    }
    // Dot segments are judged after decoding, so "%2e%2E" is ".." like the upstream will see it.
    const std::string_view segment = std::string_view(out).substr(segment_start);
    const bool more = i < n;  // the segment was followed by '/'
    if (segment == ".") {
      out.resize(segment_start);
    } else if (segment == "..") {
      out.resize(segment_start);
      if (segment_start == 1) return NormalizeResult::ClimbsAboveRoot;
      // Drop the parent: back up to the '/' before it, keeping that '/'.
      const std::size_t parent_slash = out.rfind('/', segment_start - 2);
      out.resize(parent_slash + 1);
    } else if (more) {
      out.push_back('/');
    }
  }
  return NormalizeResult::Ok;
}

}  // namespace portico::routing
