#include "filters/oauth2/introspection_provider.h"

#include <gtest/gtest.h>

namespace portico::filters::oauth2 {
namespace {

constexpr std::int64_t now = 1'800'000'000;

TEST(ParseIntrospection, OnlyActiveTrueIsActive) {
  for (auto body : {R"({"active": false})", R"({"active": "true"})", R"({"active": 1})", "{}",
                    "[true]", "not json", R"({"active": true, "exp": 1700000000})"}) {
    EXPECT_FALSE(parse_introspection(body, now, std::chrono::seconds(60))->active) << body;
  }
}

TEST(ParseIntrospection, ReadsSubjectScopesAndBoundsTheCacheByExp) {
  auto before = std::chrono::steady_clock::now();
  auto answer = parse_introspection(
      R"({"active": true, "sub": "u-7", "scope": "orders:read  orders:write", "exp": 1800000010})",
      now, std::chrono::seconds(60));
  ASSERT_TRUE(answer->active);
  EXPECT_EQ(answer->subject, "u-7");
  EXPECT_EQ(answer->scopes, (std::vector<std::string>{"orders:read", "orders:write"}));
  EXPECT_LE(answer->cache_until, before + std::chrono::seconds(11));
  auto long_lived =
      parse_introspection(R"({"active": true, "exp": 1900000000})", now, std::chrono::seconds(60));
  EXPECT_LE(long_lived->cache_until, std::chrono::steady_clock::now() + std::chrono::seconds(61));
}

}  // namespace
}  // namespace portico::filters::oauth2

namespace portico::filters::oauth2 {
namespace {

TEST(ParseIntrospection, KeepsAnInactiveAnswerForAtMostThirtySeconds) {
  auto answer = parse_introspection(R"({"active": false})", now, std::chrono::seconds(600));
  EXPECT_FALSE(answer->active);
  EXPECT_LE(answer->cache_until, std::chrono::steady_clock::now() + std::chrono::seconds(31));
  EXPECT_GT(answer->cache_until, std::chrono::steady_clock::now() + std::chrono::seconds(25));
}

}  // namespace
}  // namespace portico::filters::oauth2
