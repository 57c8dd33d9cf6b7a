// Small text helpers every layer uses: numbers, hex, optional whitespace.
#pragma once

#include <charconv>
#include <span>
#include <string>
#include <string_view>

namespace portico::core {

inline constexpr char hex_digits[] = "0123456789abcdef";

// Appends an integer, or a double in its shortest round-trip form.
template <class T>
void append_number(std::string& out, T value) {
  char digits[32];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// Appends two lowercase hex digits per byte.
inline void append_hex(std::string& out, std::span<const unsigned char> bytes) {
  for (unsigned char b : bytes) {
    out += hex_digits[b >> 4];
    out += hex_digits[b & 15];
  }
}

// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace portico::core
