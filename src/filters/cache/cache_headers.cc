#include "filters/cache/cache_headers.h"

#include <algorithm>
#include <charconv>

#include "core/ascii.h"

namespace portico::filters::cache {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> seconds_of(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty()) return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc::result_out_of_range && end == v.data() + v.size())
    return std::int64_t{1} << 31;  // "a delta-seconds too large is 2^31" (RFC 9111 1.2.2)
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) return std::nullopt;
  return std::min<std::int64_t>(n, std::int64_t{1} << 31);
}

// Calls `each(item)` for the non-empty, trimmed members of a comma-separated list; a quoted
// string may hold commas (and, escaped, quotes).
template <class Each>
void for_each_item(std::string_view text, Each each) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    bool quoted = false;
    while (i < text.size() && (quoted || text[i] != ',')) {
      if (text[i] == '"') quoted = !quoted;
      if (quoted && text[i] == '\\' && i + 1 < text.size()) ++i;
      ++i;
    }
    auto item = trim(text.substr(start, i - start));
    ++i;
    if (!item.empty()) each(item);
  }
}

// Calls `each(name, value, has_value)` for the `name[=value]` directives of `text`.
template <class Each>
void for_each_directive(std::string_view text, Each each) {
  for_each_item(text, [&](std::string_view item) {
    auto eq = item.find('=');
    auto name = trim(item.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    each(name, value, eq != std::string_view::npos);
  });
}

std::string_view opaque_tag(std::string_view tag) {
  tag = trim(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

}  // namespace

CacheControl parse_cache_control(std::string_view value) {
  CacheControl out;
  for_each_directive(value, [&](std::string_view name, std::string_view v, bool has_value) {
    if (core::iequals(name, "no-store")) {
      out.no_store = true;
    } else if (core::iequals(name, "no-cache")) {
      out.no_cache = true;  // with a field list too: stricter than needed, never wrong
    } else if (core::iequals(name, "private")) {
      out.is_private = true;
    } else if (core::iequals(name, "public")) {
      out.is_public = true;
    } else if (core::iequals(name, "no-transform")) {
      out.no_transform = true;
    } else if (core::iequals(name, "max-age") && has_value) {
      // A max-age that cannot be read makes the answer stale at once (RFC 9111 4.2.1).
      out.max_age = seconds_of(v).value_or(0);
    } else if (core::iequals(name, "s-maxage") && has_value) {
      out.s_maxage = seconds_of(v).value_or(0);
    }
  });
  return out;
}

std::vector<std::string> parse_vary(std::string_view value) {
  std::vector<std::string> names;
  for_each_directive(value, [&](std::string_view name, std::string_view, bool) {
    std::string lower(name);
    for (auto& c : lower) c = core::ascii_lower(c);
    names.push_back(std::move(lower));
  });
  return names;
}

bool none_match_hits(std::string_view if_none_match, std::string_view etag) {
  if (etag.empty()) return false;
  auto stored = opaque_tag(etag);
  // Whole items: an entity tag may hold '=' (base64), which is no directive here.
  bool hit = false;
  for_each_item(if_none_match, [&](std::string_view item) {
    hit = hit || item == "*" || opaque_tag(item) == stored;
  });
  return hit;
}

std::optional<std::int64_t> parse_http_date(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions.
  s = trim(s);
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  auto number = [&](std::size_t at, std::size_t len) -> int {
    int n = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      n = n * 10 + (s[i] - '0');
    }
    return n;
  };
  static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  auto month_at = months.find(s.substr(8, 3));
  int day = number(5, 2), year = number(12, 4), hour = number(17, 2), minute = number(20, 2),
      second = number(23, 2);
  if (month_at == std::string_view::npos || month_at % 3 != 0 || day < 1 || day > 31 ||
      year < 1970 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  int month = static_cast<int>(month_at / 3) + 1;
  // Days from the civil date (Howard Hinnant's algorithm, public domain arithmetic).
  int y = year - (month <= 2 ? 1 : 0);
  int era = y / 400;
  int yoe = y - era * 400;
  int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace portico::filters::cache
