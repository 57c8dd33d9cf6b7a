#include "filters/cache/cached_answer.h"

#include <gtest/gtest.h>

namespace portico::filters::cache {
namespace {

TEST(CachedAnswer, RoundTripsThroughItsStoredForm) {
  CachedAnswer a;
  a.status = 203;
  a.headers = {{"Content-Type", "application/json"}, {"ETag", "\"v1\""}};
  a.body = std::string("{\"a\":1}\0binary", 14);
  a.path = "/users/1";
  a.route_tag = "users#30000";
  a.vary = {"x-tenant"};
  a.stored_ms = 1700000000000;
  a.initial_age = 3;
  a.fresh_until_ms = 1700000030000;
  a.stale_while_revalidate_until_ms = 1700000040000;
  a.stale_if_error_until_ms = 1700000090000;
  auto b = deserialize(serialize(a));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 203);
  EXPECT_EQ(b->headers, a.headers);
  EXPECT_EQ(b->body, a.body);
  EXPECT_EQ(b->path, a.path);
  EXPECT_EQ(b->route_tag, a.route_tag);
  EXPECT_EQ(b->vary, a.vary);
  EXPECT_EQ(b->stale_if_error_until_ms, a.stale_if_error_until_ms);
  EXPECT_EQ(b->header("etag"), "\"v1\"");
  EXPECT_EQ(b->keep_until_ms(), a.stale_if_error_until_ms);
}

TEST(CachedAnswer, RefusesWhatItDidNotWrite) {
  EXPECT_FALSE(deserialize(""));
  EXPECT_FALSE(deserialize("hello world"));
  CachedAnswer a;
  a.status = 200;
  auto bytes = serialize(a);
  EXPECT_TRUE(deserialize(bytes));
  EXPECT_FALSE(deserialize(bytes.substr(0, bytes.size() - 1)));
  EXPECT_FALSE(deserialize(bytes + "x"));
}

TEST(CachedAnswer, AgeCountsFromStorageAndTheUpstreamsOwnAge) {
  CachedAnswer a;
  a.stored_ms = 10000;
  a.initial_age = 5;
  EXPECT_EQ(a.age_seconds(10000), 5);
  EXPECT_EQ(a.age_seconds(12999), 7);
  EXPECT_EQ(a.age_seconds(9000), 5);
}

}  // namespace
}  // namespace portico::filters::cache
