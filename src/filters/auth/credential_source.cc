#include "filters/auth/credential_source.h"

#include "core/ascii.h"
#include "core/text.h"

namespace portico::filters::auth {

namespace {

using core::trim;

// "Bearer <token>", the scheme case-insensitive (RFC 9110 11.1).
std::string_view bearer_token(std::string_view value) {
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size() || !core::iequals(value.substr(0, scheme.size()), scheme))
    return {};
  return trim(value.substr(scheme.size()));
}

}  // namespace

CredentialSources::CredentialSources(const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    auto colon = spec.find(':');
    if (colon == std::string::npos) continue;
    auto kind = std::string_view(spec).substr(0, colon);
    Place place = kind == "query" ? Place::Query : kind == "cookie" ? Place::Cookie : Place::Header;
    sources_.push_back({place, spec.substr(colon + 1)});
  }
  if (sources_.empty()) sources_.push_back({Place::Header, "Authorization"});
}

std::string_view CredentialSources::find(const core::RequestHead& head) const {
  for (const auto& source : sources_) {
    std::string_view found;
    switch (source.place) {
      case Place::Header: {
        auto value = head.find(source.name);
        found = core::iequals(source.name, "authorization") ? bearer_token(value) : trim(value);
        break;
      }
      case Place::Query:
        if (head.has_query) found = query_value(head.query, source.name);
        break;
      case Place::Cookie:
        found = cookie_value(head.find("cookie"), source.name);
        break;
    }
    if (!found.empty()) return found;
  }
  return {};
}

std::string_view query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string_view cookie_value(std::string_view cookies, std::string_view name) {
  // Joined Cookie headers are separated by "; " (RFC 6265 5.4), as are the pairs of one.
  while (!cookies.empty()) {
    auto semi = cookies.find(';');
    auto pair = trim(cookies.substr(0, semi));
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      auto value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return value;
    }
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

}  // namespace portico::filters::auth
