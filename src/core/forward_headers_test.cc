#include "core/forward_headers.h"

#include <gtest/gtest.h>

using namespace portico;
using portico::core::HeaderField;

namespace {
std::vector<std::string> names(const std::vector<HeaderField>& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) out.emplace_back(f.name);
  return out;
}
}  // namespace

TEST(ForwardHeaders, RecognisesHopByHopNames) {
  for (auto name : {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                    "Proxy-Authorization", "proxy-connection"})
    EXPECT_TRUE(core::is_hop_by_hop(name)) << name;
  for (auto name : {"Host", "Content-Length", "Authorization", "X-Proxy", "Tea"})
    EXPECT_FALSE(core::is_hop_by_hop(name)) << name;
}

TEST(ForwardHeaders, RemovesHeadersNamedInConnectionEvenWhenTheyComeFirst) {
  std::vector<HeaderField> fields = {
      {"X-Secret", "1"}, {"Host", "h"},      {"Connection", "close, X-Secret , x-other"},
      {"X-Other", "2"},  {"TE", "trailers"}, {"Accept", "*/*"}};
  core::remove_hop_by_hop(fields);
  EXPECT_EQ(names(fields), (std::vector<std::string>{"Host", "Accept"}));
}

TEST(ForwardHeaders, JoinsRepeatedFieldsWithCommas) {
  std::string storage;
  std::vector<HeaderField> fields = {
      {"Accept", "a"}, {"Host", "h"}, {"accept", "b"}, {"Cookie", "x=1"}, {"Cookie", "y=2"}};
  core::join_repeated_fields(fields, storage);
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0].value, "a, b");
  EXPECT_EQ(fields[2].value, "x=1; y=2");
}

TEST(ForwardHeaders, LeavesDistinctFieldsAlone) {
  std::string storage;
  std::vector<HeaderField> fields = {{"A", "1"}, {"B", "2"}};
  core::join_repeated_fields(fields, storage);
  EXPECT_EQ(fields.size(), 2u);
  EXPECT_TRUE(storage.empty());
}

TEST(ForwardHeaders, AcceptsOnlyPrintableShortRequestIds) {
  EXPECT_TRUE(core::is_valid_request_id("abc-123_XYZ"));
  EXPECT_FALSE(core::is_valid_request_id(""));
  EXPECT_FALSE(core::is_valid_request_id(std::string(129, 'a')));
  EXPECT_TRUE(core::is_valid_request_id(std::string(128, 'a')));
  EXPECT_FALSE(core::is_valid_request_id("has space"));
  EXPECT_FALSE(core::is_valid_request_id("tab\there"));
}

TEST(ForwardHeaders, QuotesIpv6NodesInForwarded) {
  std::string out;
  core::append_forwarded_node(out, "::1");
  EXPECT_EQ(out, "\"[::1]\"");
  out.clear();
  core::append_forwarded_node(out, "10.0.0.1");
  EXPECT_EQ(out, "10.0.0.1");
}
