// The head of an answer, whoever made it (an upstream, an action, a filter's local reply) and
// whichever codec carries it: a status and header fields, no framing text. The codec writes
// the framing (Content-Length, chunked, Connection) from `content_length` and the request.
#pragma once

#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ascii.h"
#include "core/request_head.h"

namespace portico::core {

class ResponseHead {
 public:
  int status = 0;
  std::string_view reason;  // the upstream's phrase: used only for a status without a standard one
  // Views: into the upstream's read buffer, the config, or this head's own storage (add_copy).
  // Never framing fields (Content-Length, Transfer-Encoding, Connection) unless `keep_framing`.
  std::vector<HeaderField> fields;
  // The body's length when known (for a HEAD request, the length a GET would have); nullopt:
  // the body streams to its end and the codec frames it (chunked, or closing).
  std::optional<std::uint64_t> content_length;
  // A proxied answer without a body (HEAD, 204, 304) keeps the upstream's Content-Length field.
  bool keep_framing = false;

  std::string_view find(std::string_view name) const {
    const auto* f = find_field(fields, name);
    return f ? f->value : std::string_view();
  }
  bool has(std::string_view name) const { return find_field(fields, name) != nullptr; }
  // Adds a field whose name and value outlive the answer (config text, literals).
  void add(std::string_view name, std::string_view value) { fields.push_back({name, value}); }
  // Adds a field made for this answer: the head keeps a copy.
  void add_copy(std::string_view name, std::string_view value) {
    auto stored_name = std::string_view(storage_.emplace_front(name));
    fields.push_back({stored_name, storage_.emplace_front(value)});
  }
  void remove(std::string_view name) {
    std::erase_if(fields, [&](const HeaderField& f) { return iequals(f.name, name); });
  }
  void set(std::string_view name, std::string_view value) {
    remove(name);
    add(name, value);
  }
  void clear() {
    status = 0;
    reason = {};
    fields.clear();
    content_length.reset();
    keep_framing = false;
    storage_.clear();
  }

 private:
  // A list: adding never moves what fields point at, and an empty one allocates nothing (an
  // idle connection holds a head).
  std::forward_list<std::string> storage_;
};

}  // namespace portico::core
