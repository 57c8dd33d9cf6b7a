// libFuzzer target for routing::normalize_path: whatever the input, an Ok result must be a
// path the router can trust, and normalizing it again must change nothing.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "routing/path_normalizer.h"

namespace {

using portico::routing::normalize_path;
using portico::routing::NormalizeResult;

bool is_upper_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex(char c) {
  return c <= '9' ? c - '0' : c - 'A' + 10;
}

void check_normalized(std::string_view path) {
  if (path.empty() || path.front() != '/') std::abort();
  if (path.find("//") != std::string_view::npos) std::abort();
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") std::abort();
    start = end + 1;
  }
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x21 || c >= 0x7f || c == '\\') std::abort();
    if (c != '%') continue;
    // Escapes left in place are upper-case and never of an unreserved character.
    if (i + 2 >= path.size() || !is_upper_hex(path[i + 1]) || !is_upper_hex(path[i + 2]))
      std::abort();
    if (is_unreserved(static_cast<unsigned char>(hex(path[i + 1]) * 16 + hex(path[i + 2]))))
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static std::string once;
  static std::string twice;
  if (normalize_path(input, once) != NormalizeResult::Ok) return 0;
  if (once.size() > input.size()) std::abort();
  check_normalized(once);
  if (normalize_path(once, twice) != NormalizeResult::Ok || twice != once) std::abort();
  return 0;
}
