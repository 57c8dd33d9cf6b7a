// `ip:` on a route: its parse rules (through the config loader, so errors carry their line) and
// the filter's decisions over client addresses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.h"
#include "filters/ip_rules/ip_rules_filter.h"

namespace portico::filters::ip_rules {
namespace {

using ::testing::HasSubstr;
namespace ip = boost::asio::ip;

config::LoadResult load_route(std::string_view ip_yaml) {
  std::string yaml = R"(upstreams:
  users: {targets: [http://127.0.0.1:8081]}
routes:
  - name: orders
    match: {prefix: /orders}
    upstream: users
)" + std::string(ip_yaml);
  return config::load_config_string(yaml, "portico.yaml",
                                    [](std::string_view) { return std::optional<std::string>(); });
}

std::string describe(const config::LoadResult& result) {
  std::string out;
  for (const auto& error : result.errors) out += error.to_string() + "\n";
  return out;
}

IpRulesConfig rules(std::vector<std::string> allow, std::vector<std::string> deny) {
  IpRulesConfig out;
  std::string problem;
  for (const auto& text : allow) out.allow.push_back(*parse_network(text, problem));
  for (const auto& text : deny) out.deny.push_back(*parse_network(text, problem));
  return out;
}

bool admits(const IpRulesFilter& filter, std::string_view address) {
  return filter.admits(ip::make_address(address));
}

TEST(IpRulesConfig, ReadsNetworksOfBothFamiliesAndBareAddresses) {
  auto result = load_route(R"(    ip:
      allow: [10.0.0.0/8, "2001:db8::/32", 192.168.1.7, "::1"]
      deny: 10.9.0.0/16
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& ip = *result.config->routes.at(0).ip;
  ASSERT_EQ(ip.allow.size(), 4u);
  EXPECT_EQ(ip.allow[0].prefix, 8);
  EXPECT_FALSE(ip.allow[0].v6);
  EXPECT_EQ(ip.allow[1].prefix, 32);
  EXPECT_TRUE(ip.allow[1].v6);
  EXPECT_EQ(ip.allow[2].prefix, 32);
  EXPECT_EQ(ip.allow[3].prefix, 128);
  ASSERT_EQ(ip.deny.size(), 1u);
  EXPECT_EQ(ip.deny[0].text, "10.9.0.0/16");
}

TEST(IpRulesConfig, ABadNetworkIsAnErrorAtItsLine) {
  auto result = load_route(R"(    ip:
      allow:
        - 10.0.0.0/8
        - 10.0.0.0/33
      deny: [not-an-address]
)");
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 2u) << describe(result);
  EXPECT_EQ(result.errors[0].key_path, "routes[0].ip.allow[1]");
  EXPECT_EQ(result.errors[0].mark.line, 10);
  EXPECT_THAT(result.errors[0].message, HasSubstr("10.0.0.0/33"));
  EXPECT_EQ(result.errors[1].key_path, "routes[0].ip.deny[0]");
  EXPECT_EQ(result.errors[1].mark.line, 11);
}

TEST(IpRulesConfig, AddressBitsBeyondThePrefixAreRefusedWithTheNetwork) {
  std::string problem;
  EXPECT_FALSE(parse_network("10.1.0.0/8", problem));
  EXPECT_THAT(problem, HasSubstr("10.0.0.0/8"));
  EXPECT_FALSE(parse_network("2001:db8::1/32", problem));
  EXPECT_THAT(problem, HasSubstr("2001:db8::/32"));
  EXPECT_TRUE(parse_network("0.0.0.0/0", problem));
  EXPECT_TRUE(parse_network("::/0", problem));
}

TEST(IpRulesConfig, AnIpMappingWithNeitherListIsAnError) {
  auto result = load_route("    ip: {}\n");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(describe(result), HasSubstr("allow, deny or both"));
  auto unknown = load_route("    ip: {allow: [10.0.0.0/8], permit: [1.2.3.4]}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(describe(unknown), HasSubstr("permit"));
}

TEST(IpRulesFilter, DenyWinsInsideAllow) {
  IpRulesFilter filter(rules({"10.0.0.0/8"}, {"10.9.0.0/16"}));
  EXPECT_TRUE(admits(filter, "10.1.2.3"));
  EXPECT_FALSE(admits(filter, "10.9.2.3"));
  EXPECT_FALSE(admits(filter, "11.0.0.1"));
}

TEST(IpRulesFilter, WithoutAllowEveryoneNotDeniedPasses) {
  IpRulesFilter filter(rules({}, {"192.0.2.0/24", "2001:db8::/32"}));
  EXPECT_TRUE(admits(filter, "198.51.100.1"));
  EXPECT_FALSE(admits(filter, "192.0.2.200"));
  EXPECT_TRUE(admits(filter, "2001:db9::1"));
  EXPECT_FALSE(admits(filter, "2001:db8:1::5"));
}

TEST(IpRulesFilter, ABareAddressIsOneHost) {
  IpRulesFilter filter(rules({"127.0.0.1", "::1"}, {}));
  EXPECT_TRUE(admits(filter, "127.0.0.1"));
  EXPECT_FALSE(admits(filter, "127.0.0.2"));
  EXPECT_TRUE(admits(filter, "::1"));
  EXPECT_FALSE(admits(filter, "::2"));
}

TEST(IpRulesFilter, IPv4MappedClientsAreJudgedByTheirIPv4Address) {
  IpRulesFilter filter(rules({"10.0.0.0/8"}, {"10.9.0.0/16"}));
  EXPECT_TRUE(admits(filter, "::ffff:10.1.2.3"));
  EXPECT_FALSE(admits(filter, "::ffff:10.9.2.3"));
  EXPECT_FALSE(admits(filter, "::ffff:11.0.0.1"));
  // ... and a rule written IPv4-mapped is the IPv4 rule it stands for.
  IpRulesFilter mapped(rules({}, {"::ffff:192.0.2.0/120"}));
  EXPECT_FALSE(admits(mapped, "192.0.2.9"));
  EXPECT_TRUE(admits(mapped, "192.0.3.9"));
}

TEST(IpRulesFilter, ARefusedClientGets403) {
  IpRulesFilter filter(rules({"10.0.0.0/8"}, {}));
  proxy::RequestContext ctx;
  ctx.client_ip = "10.0.0.5";
  EXPECT_EQ(filter.on_request(ctx), proxy::Next::Continue);
  ctx.client_ip = "192.168.0.5";
  EXPECT_EQ(filter.on_request(ctx), proxy::Next::Respond);
  EXPECT_EQ(ctx.reply.status, 403);
  EXPECT_EQ(ctx.reply.error_tag, "ip_denied");
  ctx.reply.clear();
  ctx.client_ip = "garbage";
  EXPECT_EQ(filter.on_request(ctx), proxy::Next::Respond);
  EXPECT_EQ(ctx.reply.status, 403);
}

}  // namespace
}  // namespace portico::filters::ip_rules
