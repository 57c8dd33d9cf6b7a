// libFuzzer target for the cache's header grammars (Cache-Control, Vary, entity tags, HTTP
// dates) and its stored form: any bytes parse without fault; what parses keeps its invariants;
// an entry read back from bytes writes the same bytes again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "filters/cache/cache_headers.h"
#include "filters/cache/cached_answer.h"

namespace cache = portico::filters::cache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto cc = cache::parse_cache_control(text);
  if (cc.max_age && *cc.max_age < 0) std::abort();
  if (cc.s_maxage && *cc.s_maxage < 0) std::abort();

  for (const auto& name : cache::parse_vary(text))
    for (char c : name)
      if (c >= 'A' && c <= 'Z') std::abort();  // names come out lower case

  auto half = text.substr(0, size / 2);
  auto rest = text.substr(size / 2);
  (void)cache::none_match_hits(half, rest);
  if (!rest.empty() && rest.find(',') == std::string_view::npos &&
      rest.find('=') == std::string_view::npos && rest.find(' ') == std::string_view::npos &&
      rest.find('\t') == std::string_view::npos && !cache::none_match_hits(rest, rest))
    std::abort();  // a single tag always matches itself

  if (auto seconds = cache::parse_http_date(text); seconds && *seconds < 0) std::abort();

  if (auto answer = cache::deserialize(text)) {
    if (cache::serialize(*answer) != text) std::abort();
  }
  return 0;
}
