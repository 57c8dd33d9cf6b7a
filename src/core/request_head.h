// A parsed HTTP request head. Names and values are views into the connection's read buffer,
// valid until the session starts streaming the body; nothing here allocates per request once
// the vectors have grown to their working size.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/ascii.h"

namespace portico::core {

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// The first field named `name` (case-insensitive); null when there is none.
inline const HeaderField* find_field(const std::vector<HeaderField>& fields,
                                     std::string_view name) {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

class RequestHead {
 public:
  std::string_view method;
  std::string_view target;    // as received: path and query
  std::string_view raw_path;  // target without the query
  std::string_view query;     // without the '?'; empty when absent
  bool has_query = false;
  std::string path;  // normalized path, what routing sees
  int version = 11;  // 10, 11, or 20 (an HTTP/2 stream)
  std::vector<HeaderField> fields;

  // First field with this name (case-insensitive), or an empty view.
  std::string_view find(std::string_view name) const {
    const auto* f = find_field(fields, name);
    return f ? f->value : std::string_view();
  }
  bool has(std::string_view name) const { return find_field(fields, name) != nullptr; }
  void clear() {
    method = target = raw_path = query = {};
    has_query = false;
    path.clear();
    version = 11;
    fields.clear();
  }
};

}  // namespace portico::core
