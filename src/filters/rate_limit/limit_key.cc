#include "filters/rate_limit/limit_key.h"

#include <boost/json/serialize.hpp>

#include "proxy/request_context.h"

namespace portico::filters::rate_limit {
namespace {

constexpr char kSeparator = '\x1f';

void append_part(std::string& out, std::string_view value) {
  out += kSeparator;
  if (value.empty()) {
    out += '-';
    return;
  }
  // A separator inside a value (a header may carry control bytes) is doubled, so two
  // different requests never build the same key.
  for (char c : value) {
    out += c;
    if (c == kSeparator) out += c;
  }
}

void append_claim(std::string& out, const proxy::RequestContext& ctx, const std::string& claim) {
  const auto* claims = ctx.identity.claims;
  const auto* value = claims ? claims->if_contains(claim) : nullptr;
  if (!value || value->is_null()) return append_part(out, {});
  if (value->is_string()) return append_part(out, value->get_string());
  append_part(out, boost::json::serialize(*value));
}

}  // namespace

std::vector<KeyPart> parse_limit_key(std::string_view spec) {
  std::vector<KeyPart> parts;
  while (!spec.empty()) {
    auto plus = spec.find('+');
    std::string_view text = spec.substr(0, plus);
    spec = plus == std::string_view::npos ? std::string_view() : spec.substr(plus + 1);
    KeyPart& part = parts.emplace_back();
    auto colon = text.find(':');
    std::string_view kind = text.substr(0, colon);
    if (colon != std::string_view::npos) part.name = std::string(text.substr(colon + 1));
    if (kind == "client_ip")
      part.kind = KeyPart::Kind::ClientIp;
    else if (kind == "consumer")
      part.kind = KeyPart::Kind::Consumer;
    else if (kind == "header")
      part.kind = KeyPart::Kind::Header;
    else if (kind == "jwt")
      part.kind = KeyPart::Kind::JwtClaim;
    else if (kind == "route")
      part.kind = KeyPart::Kind::Route;
    else
      part.kind = KeyPart::Kind::Global;
  }
  return parts;
}

void append_key_value(std::string& out, const std::vector<KeyPart>& parts,
                      const proxy::RequestContext& ctx) {
  for (const auto& part : parts) {
    switch (part.kind) {
      case KeyPart::Kind::ClientIp:
        append_part(out, ctx.client_ip);
        break;
      case KeyPart::Kind::Consumer:
        append_part(out, ctx.identity.consumer);
        break;
      case KeyPart::Kind::Header:
        // Repeated fields were joined into one before any filter ran (RFC 9110).
        append_part(out, ctx.head->find(part.name));
        break;
      case KeyPart::Kind::JwtClaim:
        append_claim(out, ctx, part.name);
        break;
      case KeyPart::Kind::Route:
        append_part(out, ctx.route_name);
        break;
      case KeyPart::Kind::Global:
        out += kSeparator;
        out += '*';
        break;
    }
  }
}

}  // namespace portico::filters::rate_limit
