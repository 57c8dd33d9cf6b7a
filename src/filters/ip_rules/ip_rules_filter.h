// A route's `ip:` rules over the request's client_ip (after trusted_proxies): a denied network
// wins; a non-empty allow list admits only its networks. Refused -> 403. Runs first in the
// chain: it needs nothing but the address, so a refused client costs no auth work.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <vector>

#include "filters/ip_rules/ip_rules_config.h"
#include "proxy/filter.h"

namespace portico::filters::ip_rules {

class IpRulesFilter final : public proxy::Filter {
 public:
  explicit IpRulesFilter(const IpRulesConfig& config);

  std::string_view name() const override { return "ip_rules"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;

  // Whether `address` may pass. An IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a dual-stack
  // socket reports for an IPv4 peer) is judged as the IPv4 address it carries.
  bool admits(const boost::asio::ip::address& address) const;

 private:
  struct Networks {
    std::vector<boost::asio::ip::network_v4> v4;  // canonical
    std::vector<boost::asio::ip::network_v6> v6;  // canonical, none IPv4-mapped
    bool empty() const { return v4.empty() && v6.empty(); }
    void add(const config::Cidr& cidr);
    bool contain(const boost::asio::ip::address& address) const;
  };
  Networks allow_;
  Networks deny_;
};

}  // namespace portico::filters::ip_rules
