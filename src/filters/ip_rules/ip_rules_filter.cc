#include "filters/ip_rules/ip_rules_filter.h"

#include <algorithm>

namespace portico::filters::ip_rules {

namespace ip = boost::asio::ip;

namespace {

// ::ffff:a.b.c.d as a.b.c.d; any other address as it is.
ip::address unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

}  // namespace

void IpRulesFilter::Networks::add(const config::Cidr& cidr) {
  if (!cidr.v6) {
    ip::address_v4::bytes_type bytes;
    std::copy(cidr.bytes, cidr.bytes + bytes.size(), bytes.begin());
    v4.push_back(ip::network_v4(ip::address_v4(bytes), static_cast<unsigned short>(cidr.prefix))
                     .canonical());
    return;
  }
  ip::address_v6::bytes_type bytes;
  std::copy(cidr.bytes, cidr.bytes + bytes.size(), bytes.begin());
  ip::address_v6 address(bytes);
  // A rule written as ::ffff:10.0.0.0/104 is the IPv4 rule 10.0.0.0/8, since clients are
  // judged by the IPv4 address they carry.
  if (address.is_v4_mapped() && cidr.prefix >= 96) {
    v4.push_back(ip::network_v4(ip::make_address_v4(ip::v4_mapped, address),
                                static_cast<unsigned short>(cidr.prefix - 96))
                     .canonical());
    return;
  }
  v6.push_back(ip::network_v6(address, static_cast<unsigned short>(cidr.prefix)).canonical());
}

bool IpRulesFilter::Networks::contain(const ip::address& address) const {
  if (address.is_v4()) {
    auto a = address.to_v4();
    return std::any_of(v4.begin(), v4.end(), [&](const ip::network_v4& n) {
      return ip::network_v4(a, n.prefix_length()).canonical() == n;
    });
  }
  auto a = address.to_v6();
  a.scope_id(0);
  return std::any_of(v6.begin(), v6.end(), [&](const ip::network_v6& n) {
    return ip::network_v6(a, n.prefix_length()).canonical() == n;
  });
}

IpRulesFilter::IpRulesFilter(const IpRulesConfig& config) {
  for (const auto& cidr : config.allow) allow_.add(cidr);
  for (const auto& cidr : config.deny) deny_.add(cidr);
}

bool IpRulesFilter::admits(const ip::address& address) const {
  auto client = unmapped(address);
  if (deny_.contain(client)) return false;
  return allow_.empty() || allow_.contain(client);
}

proxy::Next IpRulesFilter::on_request(proxy::RequestContext& ctx) const {
  boost::system::error_code ec;
  auto address = ip::make_address(ctx.client_ip, ec);
  // client_ip is the peer's address or one X-Forwarded-For entry that parsed; should it ever
  // not parse, nobody can say the client is allowed.
  if (!ec && admits(address)) return proxy::Next::Continue;
  ctx.reply.set_error(403, "client address not allowed", "ip_denied");
  return proxy::Next::Respond;
}

}  // namespace portico::filters::ip_rules
