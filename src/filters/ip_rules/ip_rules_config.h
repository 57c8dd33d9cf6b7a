// `ip: {allow: [...], deny: [...]}` on a route, and its parse rules: networks (IPv4 or IPv6
// CIDRs; a bare address is /32 or /128) checked against the request's client_ip. Kept apart
// from the filter so that portico_config can hold it (the pattern of filters/cors/cors_config.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::ip_rules {

struct IpRulesConfig {
  std::vector<config::Cidr> allow;  // empty: everyone not denied
  std::vector<config::Cidr> deny;   // wins over allow
};
BOOST_DESCRIBE_STRUCT(IpRulesConfig, (), (allow, deny))
constexpr auto notes_of(const IpRulesConfig*) {
  return std::to_array<config::Note>({
      {.member = "",
       .description = "Client IP rules: deny wins; a non-empty allow admits only its networks."},
      {.member = "allow", .schema = config::kStringListSchema},
      {.member = "deny", .schema = config::kStringListSchema},
  });
}

// A route's `ip:`; nullopt when absent or malformed (each problem reported at its line).
std::optional<IpRulesConfig> read_ip_rules(config::YamlReader& reader,
                                           const std::optional<config::Field>& field);

// `text` as a network (10.0.0.0/8, 2001:db8::/32, or a bare address), parsed by Boost.Asio;
// nullopt and `problem` set when it is not one, or has bits set beyond its prefix.
std::optional<config::Cidr> parse_network(std::string_view text, std::string& problem);

}  // namespace portico::filters::ip_rules
