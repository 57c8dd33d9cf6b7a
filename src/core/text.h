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

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF, so
// the text can become a JSON string as it is.
inline bool is_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
    if (more < 0 || c > 0xf4 || end - p <= more) return false;
    // The second byte's range narrows for E0, ED, F0 and F4 (overlongs, surrogates, > 10FFFF).
    unsigned char low = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char high = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (p[1] < low || p[1] > high) return false;
    for (int i = 2; i <= more; ++i)
      if ((p[i] & 0xc0) != 0x80) return false;
    p += more + 1;
  }
  return true;
}

}  // namespace portico::core
