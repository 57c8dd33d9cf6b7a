#include "core/forward_headers.h"

#include <algorithm>

namespace portico::core {

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 17:
      return iequals(name, "transfer-encoding");
    default:
      return name.size() > 6 && iequals(name.substr(0, 6), "proxy-");
  }
}

namespace {

// Calls `fn` for each comma-separated token of a header value, trimmed.
template <class Fn>
void for_each_token(std::string_view value, Fn&& fn) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto token = value.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool is_websocket_upgrade(const core::RequestHead& head) {
  if (head.method != "GET") return false;
  bool websocket = false, connection_upgrade = false;
  for (const auto& f : head.fields) {
    if (iequals(f.name, "upgrade"))
      for_each_token(f.value, [&](std::string_view token) {
        websocket = websocket || iequals(token, "websocket");
      });
    else if (iequals(f.name, "connection"))
      for_each_token(f.value, [&](std::string_view token) {
        connection_upgrade = connection_upgrade || iequals(token, "upgrade");
      });
  }
  return websocket && connection_upgrade;
}

void remove_hop_by_hop(std::vector<core::HeaderField>& fields) {
  // Names listed in Connection are collected first so a client cannot name a header that
  // arrives before the Connection field and escape removal.
  std::string_view named[16];
  std::size_t named_count = 0;
  for (const auto& f : fields) {
    if (!iequals(f.name, "connection")) continue;
    for_each_token(f.value, [&](std::string_view token) {
      if (named_count < std::size(named)) named[named_count++] = token;
    });
  }
  auto drop = [&](const core::HeaderField& f) {
    if (is_hop_by_hop(f.name)) return true;
    for (std::size_t i = 0; i < named_count; ++i)
      if (iequals(f.name, named[i])) return true;
    return false;
  };
  fields.erase(std::remove_if(fields.begin(), fields.end(), drop), fields.end());
}

void join_repeated_fields(std::vector<core::HeaderField>& fields, std::string& storage) {
  // Count the bytes needed first so `storage` never reallocates under the views we hand out.
  std::size_t needed = 0;
  bool any = false;
  for (std::size_t i = 0; i < fields.size(); ++i)
    for (std::size_t j = i + 1; j < fields.size(); ++j)
      if (iequals(fields[i].name, fields[j].name)) {
        needed += fields[i].value.size() + fields[j].value.size() + 2;
        any = true;
      }
  if (!any) return;
  storage.clear();
  storage.reserve(needed * 2);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    bool repeated = false;
    for (std::size_t j = i + 1; j < fields.size(); ++j)
      if (iequals(fields[i].name, fields[j].name)) repeated = true;
    if (!repeated) continue;
    std::string_view separator = iequals(fields[i].name, "cookie") ? "; " : ", ";
    auto start = storage.size();
    storage.append(fields[i].value);
    for (std::size_t j = i + 1; j < fields.size();) {
      if (iequals(fields[i].name, fields[j].name)) {
        storage.append(separator);
        storage.append(fields[j].value);
        fields.erase(fields.begin() + static_cast<std::ptrdiff_t>(j));
      } else {
        ++j;
      }
    }
    fields[i].value = std::string_view(storage).substr(start);
  }
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

void append_forwarded_node(std::string& out, std::string_view ip) {
  if (ip.find(':') != std::string_view::npos) {
    out += "\"[";
    out += ip;
    out += "]\"";
  } else {
    out += ip;
  }
}

}  // namespace portico::core
