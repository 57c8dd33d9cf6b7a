#include "filters/auth/credential_source.h"

#include <gtest/gtest.h>

namespace portico::filters::auth {
namespace {

core::RequestHead head_with(std::vector<core::HeaderField> fields, std::string_view query = {}) {
  core::RequestHead head;
  head.fields = std::move(fields);
  head.query = query;
  head.has_query = !query.empty();
  return head;
}

TEST(CredentialSources, DefaultsToTheBearerToken) {
  CredentialSources sources({});
  EXPECT_EQ(sources.find(head_with({{"Authorization", "Bearer abc.def.ghi"}})), "abc.def.ghi");
  EXPECT_EQ(sources.find(head_with({{"authorization", "bearer  abc"}})), "abc");
  EXPECT_EQ(sources.find(head_with({{"Authorization", "Basic dXNlcg=="}})), "");
  EXPECT_EQ(sources.find(head_with({{"Authorization", "Bearer "}})), "");
  EXPECT_EQ(sources.find(head_with({})), "");
}

TEST(CredentialSources, TriesEachPlaceInTheOrderWritten) {
  CredentialSources sources({"header:Authorization", "query:access_token", "cookie:session"});
  EXPECT_EQ(sources.find(head_with({}, "a=1&access_token=tok&b=2")), "tok");
  EXPECT_EQ(sources.find(head_with({{"Cookie", "theme=dark; session=\"s1\"; x=y"}})), "s1");
  EXPECT_EQ(sources.find(head_with({{"Authorization", "Bearer h"}, {"Cookie", "session=c"}},
                                   "access_token=q")),
            "h");
  EXPECT_EQ(sources.find(head_with({{"Cookie", "sessionx=c"}}, "xaccess_token=q")), "");
}

TEST(CredentialSources, ReadsAnOtherHeaderAsIs) {
  CredentialSources sources({"header:X-Token"});
  EXPECT_EQ(sources.find(head_with({{"x-token", " t0k "}})), "t0k");
}

}  // namespace
}  // namespace portico::filters::auth
