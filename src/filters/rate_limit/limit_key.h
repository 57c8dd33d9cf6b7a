// What a policy counts by: `key: client_ip+header:X-API-Key` read once into parts, and each
// request's value of them. A part the request lacks (no such header, no consumer) is `-`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portico::proxy {
struct RequestContext;
}

namespace portico::filters::rate_limit {

struct KeyPart {
  enum class Kind { ClientIp, Consumer, Header, JwtClaim, Route, Global };
  Kind kind = Kind::Global;
  std::string name;  // the header or the claim
};

// `spec` as validated by the config reader (rate_limit_config.cc).
std::vector<KeyPart> parse_limit_key(std::string_view spec);

// Appends the request's value of every part to `out`, each after a separator byte (0x1f) that
// no header value, address or claim string written by a client can hold unescaped.
void append_key_value(std::string& out, const std::vector<KeyPart>& parts,
                      const proxy::RequestContext& ctx);

}  // namespace portico::filters::rate_limit
