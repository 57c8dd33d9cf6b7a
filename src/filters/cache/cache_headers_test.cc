#include "filters/cache/cache_headers.h"

#include <gtest/gtest.h>

namespace portico::filters::cache {
namespace {

TEST(CacheControl, ReadsTheDirectivesTheCacheActsOn) {
  auto cc = parse_cache_control("public, max-age=60, s-maxage=\"30\", No-Transform");
  EXPECT_EQ(cc.max_age, 60);
  EXPECT_EQ(cc.s_maxage, 30);
  EXPECT_TRUE(cc.no_transform);
  EXPECT_FALSE(cc.no_store);
  EXPECT_TRUE(parse_cache_control("no-store").no_store);
  EXPECT_TRUE(parse_cache_control(" private=\"Set-Cookie, X-A\" ").is_private);
  EXPECT_TRUE(parse_cache_control("no-cache=\"a,b\", max-age=5").no_cache);
  EXPECT_EQ(parse_cache_control("no-cache=\"a,b\", max-age=5").max_age, 5);
}

TEST(CacheControl, AnUnreadableMaxAgeMeansStale) {
  EXPECT_EQ(parse_cache_control("max-age=soon").max_age, 0);
  EXPECT_EQ(parse_cache_control("max-age=-1").max_age, 0);
  EXPECT_EQ(parse_cache_control("max-age=99999999999999999999999").max_age, 1ll << 31);
  EXPECT_EQ(parse_cache_control("max-age=9000000000000000").max_age, 1ll << 31);
  EXPECT_TRUE(parse_cache_control("Public, max-age=1").is_public);
  EXPECT_FALSE(parse_cache_control("max-age").max_age.has_value());
  EXPECT_FALSE(parse_cache_control("").max_age.has_value());
  EXPECT_FALSE(parse_cache_control(",,,").no_store);
}

TEST(Vary, ListsLowerCaseNames) {
  EXPECT_EQ(parse_vary("Accept-Encoding, X-Tenant"),
            (std::vector<std::string>{"accept-encoding", "x-tenant"}));
  EXPECT_EQ(parse_vary("*"), (std::vector<std::string>{"*"}));
  EXPECT_TRUE(parse_vary(" , ").empty());
}

TEST(EntityTags, WeakComparison) {
  EXPECT_TRUE(none_match_hits("\"a\"", "\"a\""));
  EXPECT_TRUE(none_match_hits("W/\"a\"", "\"a\""));
  EXPECT_TRUE(none_match_hits("\"x\", W/\"a\"", "W/\"a\""));
  EXPECT_TRUE(none_match_hits("*", "\"a\""));
  EXPECT_FALSE(none_match_hits("\"b\"", "\"a\""));
  EXPECT_FALSE(none_match_hits("\"a\"", ""));
  EXPECT_TRUE(none_match_hits("\"x\", \"dGVzdA==\"", "\"dGVzdA==\""));
  EXPECT_FALSE(none_match_hits("\"dGVzdA\"", "\"dGVzdA==\""));
}

TEST(HttpDate, ReadsImfFixdateOnly) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), 1835438400);
  EXPECT_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nox 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 28:49:37 GMT"));
  EXPECT_FALSE(parse_http_date(""));
}

}  // namespace
}  // namespace portico::filters::cache
