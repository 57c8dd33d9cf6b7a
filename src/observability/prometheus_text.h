// Pieces of the Prometheus text exposition format (0.0.4) shared by the renderers.
#pragma once

#include <charconv>
#include <string>
#include <string_view>

#include "core/text.h"

namespace portico::observability::prometheus {

using core::append_number;

// Bucket bounds in plain decimal ("0.0005", not "5e-04"): dashboards match le by its text.
inline void append_bound(std::string& out, double bound) {
  char digits[32];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, bound, std::chars_format::fixed);
  out.append(digits, end);
}

// In label values, backslash, double quote and line feed are escaped; everything else (UTF-8
// included) is taken as is.
inline void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

inline void append_family_header(std::string& out, std::string_view name, std::string_view help,
                                 std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace portico::observability::prometheus
