#include "filters/jwt_auth/verified_token.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portico::jwt {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

VerifiedToken token_of(std::string_view claims, const ClaimHeaders& forward = {},
                       std::string_view roles_claim = "roles") {
  return read_verified_token(boost::json::parse(claims).as_object(), roles_claim, forward);
}

TEST(VerifiedToken, ReadsSubjectAndExpiry) {
  const VerifiedToken token = token_of(R"({"sub":"user-1","exp":1700000600})");
  EXPECT_EQ(token.subject, "user-1");
  EXPECT_EQ(token.expires_at, 1700000600);
  const VerifiedToken bare = token_of("{}");
  EXPECT_EQ(bare.subject, "");
  EXPECT_EQ(bare.expires_at, std::nullopt);
  EXPECT_EQ(token_of(R"({"exp":1700000600.9})").expires_at, 1700000600);
}

TEST(VerifiedToken, ReadsRolesFromAnArrayOrASpaceSeparatedString) {
  EXPECT_EQ(token_of(R"({"roles":["admin","ops",7]})").roles,
            (std::vector<std::string>{"admin", "ops"}));
  EXPECT_EQ(token_of(R"({"roles":" admin  ops "})").roles,
            (std::vector<std::string>{"admin", "ops"}));
  EXPECT_TRUE(token_of(R"({"roles":{"admin":true}})").roles.empty());
  EXPECT_TRUE(token_of("{}").roles.empty());
}

TEST(VerifiedToken, ReadsRolesFromTheConfiguredClaim) {
  const VerifiedToken token = token_of(R"({"roles":["a"],"groups":"b c"})", {}, "groups");
  EXPECT_EQ(token.roles, (std::vector<std::string>{"b", "c"}));
}

TEST(VerifiedToken, ReadsScopesFromScopeOrScp) {
  EXPECT_EQ(token_of(R"({"scope":"read:orders write:orders"})").scopes,
            (std::vector<std::string>{"read:orders", "write:orders"}));
  EXPECT_EQ(token_of(R"({"scp":["read","write"]})").scopes,
            (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(token_of(R"({"scp":"read"})").scopes, (std::vector<std::string>{"read"}));
  EXPECT_EQ(token_of(R"({"scope":"a","scp":["b"]})").scopes, (std::vector<std::string>{"a"}));
}

TEST(VerifiedToken, FormatsForwardedClaims) {
  const VerifiedToken token = token_of(
      R"({"sub":"user-1","tenant":42,"admin":true,"ratio":0.5,"groups":["a","b"],
          "mixed":["a",1],"org":{"id":7},"none":null})",
      {{"sub", "X-User-Id"},
       {"tenant", "X-Tenant"},
       {"admin", "X-Admin"},
       {"ratio", "X-Ratio"},
       {"groups", "X-Groups"},
       {"mixed", "X-Mixed"},
       {"org", "X-Org"},
       {"none", "X-None"},
       {"absent", "X-Absent"}});
  EXPECT_EQ(token.forward_headers, (Headers{{"X-User-Id", "user-1"},
                                            {"X-Tenant", "42"},
                                            {"X-Admin", "true"},
                                            {"X-Ratio", "0.5"},
                                            {"X-Groups", "a,b"},
                                            {"X-Mixed", R"(["a",1])"},
                                            {"X-Org", R"({"id":7})"}}));
}

TEST(VerifiedToken, ForwardsNoClaimThatCouldSplitAHeader) {
  const VerifiedToken token =
      token_of(R"({"name":"Eve\r\nX-Admin: true","tab":"a\tb","nul":"a\u0000b","list":["a\n"]})",
               {{"name", "X-Name"}, {"tab", "X-Tab"}, {"nul", "X-Nul"}, {"list", "X-List"}});
  EXPECT_EQ(token.forward_headers, (Headers{{"X-Tab", "a\tb"}}));
}

TEST(ClaimText, FormatsLikeForwardedHeaders) {
  const VerifiedToken token = token_of(R"({"sub":"u","n":-3,"list":["x","y"],"empty":[]})");
  EXPECT_EQ(claim_text(token, "sub"), "u");
  EXPECT_EQ(claim_text(token, "n"), "-3");
  EXPECT_EQ(claim_text(token, "list"), "x,y");
  EXPECT_EQ(claim_text(token, "empty"), "");
  EXPECT_EQ(claim_text(token, "missing"), std::nullopt);
}

}  // namespace
}  // namespace portico::jwt
