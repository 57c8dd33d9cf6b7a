// ASCII case folding for HTTP tokens (header names, methods, schemes): locale-free and fast.
#pragma once

#include <string_view>

namespace portico::core {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c + ('a' - 'A')) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

}  // namespace portico::core
