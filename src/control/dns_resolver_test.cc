#include "control/dns_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "control/test_server.h"

namespace portico::control {
namespace {

using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;
using boost::asio::ip::make_address;

class ResolveAllTest : public ::testing::Test {
 protected:
  void SetUp() override { control_.start(); }
  ResolveResult resolve(std::string host, std::uint16_t port) {
    return test::run_on(control_, resolve_all(std::move(host), port, 2s));
  }
  ControlPlane control_;
};

TEST_F(ResolveAllTest, FindsLocalhost) {
  auto result = resolve("localhost", 8080);
  ASSERT_EQ(result.error, "");
  tcp::endpoint v4{make_address("127.0.0.1"), 8080};
  EXPECT_NE(std::find(result.endpoints.begin(), result.endpoints.end(), v4),
            result.endpoints.end());
  EXPECT_TRUE(std::is_sorted(result.endpoints.begin(), result.endpoints.end()));
  EXPECT_EQ(std::adjacent_find(result.endpoints.begin(), result.endpoints.end()),
            result.endpoints.end());
  for (const auto& endpoint : result.endpoints) {
    EXPECT_TRUE(endpoint.address().is_loopback()) << endpoint;
    EXPECT_EQ(endpoint.port(), 8080);
  }
  EXPECT_EQ(result.endpoints.front(), v4);  // IPv4 sorts first
}

TEST_F(ResolveAllTest, ReturnsAddressesAsTheyAre) {
  auto v4 = resolve("127.0.0.1", 80);
  ASSERT_EQ(v4.error, "");
  EXPECT_THAT(v4.endpoints, ::testing::ElementsAre(tcp::endpoint{make_address("127.0.0.1"), 80}));
  auto v6 = resolve("::1", 443);
  ASSERT_EQ(v6.error, "");
  EXPECT_THAT(v6.endpoints, ::testing::ElementsAre(tcp::endpoint{make_address("::1"), 443}));
}

TEST_F(ResolveAllTest, EmptyHostIsAnError) {
  auto result = resolve("", 80);
  EXPECT_THAT(result.error, ::testing::StartsWith("resolve failed"));
  EXPECT_TRUE(result.endpoints.empty());
}

}  // namespace
}  // namespace portico::control
