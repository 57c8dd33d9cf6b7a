// Where a provider finds the client's credential: `token_from: [header:Authorization,
// query:access_token, cookie:session]`. From the Authorization header the value is what
// follows "Bearer ".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/request_head.h"

namespace portico::filters::auth {

class CredentialSources {
 public:
  // `specs` as written in the config (validated there); empty: the Authorization header.
  explicit CredentialSources(const std::vector<std::string>& specs);

  // The first credential found, in the order written; empty when there is none.
  std::string_view find(const core::RequestHead& head) const;

 private:
  enum class Place { Header, Query, Cookie };
  struct Source {
    Place place;
    std::string name;
  };
  std::vector<Source> sources_;
};

// The value of query parameter `name` in `query` (raw, not percent-decoded), or empty.
std::string_view query_value(std::string_view query, std::string_view name);
// The value of cookie `name` in a Cookie header, or empty.
std::string_view cookie_value(std::string_view cookies, std::string_view name);

}  // namespace portico::filters::auth
