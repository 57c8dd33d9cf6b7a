// Filling an aggregate call's path: params, identity, the client's query string and fields of
// earlier answers, each encoded for where it lands.
#include "actions/aggregate/call_path.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portico::actions::aggregate {
namespace {

std::optional<std::size_t> two_calls(std::string_view name) {
  if (name == "user") return 0;
  if (name == "orders") return 1;
  return std::nullopt;
}

struct Filled {
  bool ok = false;
  std::string path, query, problem;
};

class CallPathTest : public ::testing::Test {
 protected:
  Filled fill(std::string_view pattern) {
    CallPath path(pattern, two_calls);
    Filled out;
    ctx.head = &head;
    ctx.match = &match;
    const boost::json::value* answers[] = {user.is_null() ? nullptr : &user, nullptr};
    out.ok = path.fill(ctx, answers, out.path, out.query, out.problem);
    return out;
  }
  void param(std::string_view name, std::string_view value) {
    match.params.items[match.params.size++] = {name, value};
  }

  core::RequestHead head;
  routing::MatchResult match;
  portico::proxy::RequestContext ctx;
  boost::json::value user;
};

TEST_F(CallPathTest, ParamsGoIntoThePathAsTheyAre) {
  param("id", "42");
  auto filled = fill("/users/{id}/profile");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.path, "/users/42/profile");
  EXPECT_EQ(filled.query, "");
}

TEST_F(CallPathTest, ParamsInTheQueryHaveTheQueryDelimitersEscaped) {
  param("id", "a&b=c%2F");
  auto filled = fill("/orders?user_id={id}");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.path, "/orders");
  // The value is the param decoded ("a&b=c/"), encoded for a query ('/' needs no escape there).
  EXPECT_EQ(filled.query, "user_id=a%26b%3Dc/");
}

TEST_F(CallPathTest, FieldsOfAnEarlierAnswerArePercentEncoded) {
  user = boost::json::parse(R"({"id": 7, "name": "Ann Lee/x", "tags": [{"k": "v w"}]})");
  auto filled = fill("/by-name/{user.name}?id={user.id}&tag={user.tags.0.k}");
  ASSERT_TRUE(filled.ok) << filled.problem;
  EXPECT_EQ(filled.path, "/by-name/Ann%20Lee%2Fx");
  EXPECT_EQ(filled.query, "id=7&tag=v%20w");
}

TEST_F(CallPathTest, AMissingNullOrNonScalarFieldFailsTheCall) {
  user = boost::json::parse(R"({"id": null, "obj": {}})");
  for (auto pattern : {"/x/{user.nope}", "/x/{user.id}", "/x/{user.obj}", "/x/{orders.id}"}) {
    auto filled = fill(pattern);
    EXPECT_FALSE(filled.ok) << pattern;
    EXPECT_NE(filled.problem.find("is not in that call's answer"), std::string::npos);
  }
}

TEST_F(CallPathTest, NumbersAreWrittenAsPeopleWriteThem) {
  user = boost::json::parse(R"({"a": 42.0, "b": 10.5, "c": -3, "d": 18446744073709551615})");
  auto filled = fill("/n/{user.a}/{user.b}/{user.c}/{user.d}");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.path, "/n/42/10.5/-3/18446744073709551615");
}

TEST_F(CallPathTest, EmptyValuesAndDotSegmentsFailTheCall) {
  user = boost::json::parse(R"({"empty": "", "up": "..", "here": "."})");
  for (auto pattern :
       {"/x/{user.empty}", "/x/{user.up}/admin", "/x/{user.here}", "/x?q={user.empty}"})
    EXPECT_FALSE(fill(pattern).ok) << pattern;
  auto filled = fill("/x?q={user.up}");  // a query value is not a path segment
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.query, "q=..");
}

TEST_F(CallPathTest, AnIdentityValueTheRequestLacksFailsTheCall) {
  EXPECT_FALSE(fill("/u/{consumer}").ok);
  EXPECT_FALSE(fill("/u?tenant={jwt.tenant}").ok);
  auto filled = fill("/u/{consumer}");
  EXPECT_NE(filled.problem.find("{consumer} has no value"), std::string::npos) << filled.problem;
}

TEST_F(CallPathTest, TheClientsQueryStringGoesWhereTheTemplateSays) {
  head.has_query = true;
  head.query = "page=2&sort=desc";
  auto filled = fill("/orders?limit=5&{query}");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.query, "limit=5&page=2&sort=desc");

  head.has_query = false;
  head.query = {};
  filled = fill("/orders?{query}&limit=5");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.query, "limit=5");  // no empty items left behind
  filled = fill("/orders?{query}");
  EXPECT_EQ(filled.query, "");
}

TEST_F(CallPathTest, TheClientCannotOverrideWhatTheTemplateSets) {
  param("id", "9");
  head.has_query = true;
  head.query = "user_id=other&page=2&user_id=again&user_idx=1";
  auto filled = fill("/orders?{query}&user_id={id}");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.query, "page=2&user_idx=1&user_id=9");
}

TEST_F(CallPathTest, IdentityPlaceholders) {
  boost::json::object claims;
  claims["tenant"] = "acme corp";
  claims["level"] = 3;
  ctx.identity.consumer = "alice@example";
  ctx.identity.claims = &claims;
  auto filled = fill("/t/{jwt.tenant}/{consumer}?level={jwt.level}");
  ASSERT_TRUE(filled.ok);
  EXPECT_EQ(filled.path, "/t/acme%20corp/alice@example");
  EXPECT_EQ(filled.query, "level=3");
}

TEST(ScalarText, ScalarsOnly) {
  EXPECT_EQ(scalar_text(boost::json::value("x")), "x");
  EXPECT_EQ(scalar_text(boost::json::value(true)), "true");
  EXPECT_EQ(scalar_text(boost::json::value(-5)), "-5");
  EXPECT_EQ(scalar_text(boost::json::value(nullptr)), std::nullopt);
  EXPECT_EQ(scalar_text(boost::json::value(boost::json::array{})), std::nullopt);
}

}  // namespace
}  // namespace portico::actions::aggregate
