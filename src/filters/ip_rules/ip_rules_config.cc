#include "filters/ip_rules/ip_rules_config.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <algorithm>

#include "config/yaml_reader.h"

namespace portico::filters::ip_rules {

namespace ip = boost::asio::ip;

namespace {

template <class Bytes>
void copy_bytes(const Bytes& bytes, config::Cidr& out) {
  std::copy(bytes.begin(), bytes.end(), out.bytes);
}

}  // namespace

std::optional<config::Cidr> parse_network(std::string_view text, std::string& problem) {
  config::Cidr out;
  out.text = std::string(text);
  boost::system::error_code ec;
  std::string expected =
      "expected an IP network like 10.0.0.0/8 or 2001:db8::/32, or an address, got " +
      config::quoted(text);
  if (text.find('/') == std::string_view::npos) {
    auto address = ip::make_address(text, ec);
    if (ec) {
      problem = expected;
      return std::nullopt;
    }
    out.v6 = address.is_v6();
    out.prefix = out.v6 ? 128 : 32;
    if (out.v6)
      copy_bytes(address.to_v6().to_bytes(), out);
    else
      copy_bytes(address.to_v4().to_bytes(), out);
    return out;
  }
  // A network whose address has bits beyond the prefix is most often a typo (10.1.0.0/8 for
  // 10.1.0.0/16): refused with the network it would stand for, rather than silently widened.
  auto refuse_host_bits = [&](const auto& network) {
    problem = config::quoted(text) + " has address bits set beyond its /" +
              std::to_string(network.prefix_length()) + "; the network is " +
              network.canonical().to_string();
    return std::nullopt;
  };
  if (text.find(':') != std::string_view::npos) {
    auto network = ip::make_network_v6(text, ec);
    if (ec) {
      problem = expected;
      return std::nullopt;
    }
    if (network.address() != network.network()) return refuse_host_bits(network);
    out.v6 = true;
    out.prefix = network.prefix_length();
    copy_bytes(network.network().to_bytes(), out);
    return out;
  }
  auto network = ip::make_network_v4(text, ec);
  if (ec) {
    problem = expected;
    return std::nullopt;
  }
  if (network.address() != network.network()) return refuse_host_bits(network);
  out.prefix = network.prefix_length();
  copy_bytes(network.network().to_bytes(), out);
  return out;
}

std::optional<IpRulesConfig> read_ip_rules(config::YamlReader& r,
                                           const std::optional<config::Field>& field) {
  auto f = r.mapping(field, config::yaml_keys<IpRulesConfig>());
  if (!f) return std::nullopt;
  if (!f->has("allow") && !f->has("deny")) {
    r.error(f->self(), "expected allow, deny or both (lists of networks like 10.0.0.0/8)");
    return std::nullopt;
  }
  IpRulesConfig out;
  bool failed = false;
  auto read_list = [&](std::string_view key, std::vector<config::Cidr>& into) {
    auto items = r.list(f->get(key), true);
    if (!items) {
      failed = failed || f->has(key);
      return;
    }
    for (const auto& item : *items) {
      auto text = r.non_empty(item);
      if (!text) {
        failed = true;
        continue;
      }
      std::string problem;
      if (auto network = parse_network(*text, problem)) {
        into.push_back(std::move(*network));
      } else {
        r.error(item, problem);
        failed = true;
      }
    }
  };
  read_list("allow", out.allow);
  read_list("deny", out.deny);
  if (failed) return std::nullopt;
  return out;
}

}  // namespace portico::filters::ip_rules
