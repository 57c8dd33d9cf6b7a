#include "filters/jwt_auth/base64url.h"

#include <gtest/gtest.h>

#include "filters/jwt_auth/test_tokens.h"

namespace portico::jwt {
namespace {

std::string decoded(std::string_view text) {
  std::string out = "stale";
  EXPECT_TRUE(base64url_decode(text, out)) << text;
  return out;
}

bool decodes(std::string_view text) {
  std::string out;
  return base64url_decode(text, out);
}

TEST(Base64url, DecodesEveryTailLength) {
  EXPECT_EQ(decoded(""), "");
  EXPECT_EQ(decoded("YQ"), "a");
  EXPECT_EQ(decoded("YWI"), "ab");
  EXPECT_EQ(decoded("YWJj"), "abc");
  EXPECT_EQ(decoded("eyJhbGciOiJIUzI1NiJ9"), R"({"alg":"HS256"})");
}

TEST(Base64url, DecodesTheUrlSafeAlphabet) {
  EXPECT_EQ(decoded("-_8"), "\xfb\xff");
}

TEST(Base64url, RoundTripsEveryByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t length = 0; length < 8; ++length)
    EXPECT_EQ(decoded(test::base64url_encode(bytes.substr(0, length))), bytes.substr(0, length));
  EXPECT_EQ(decoded(test::base64url_encode(bytes)), bytes);
}

TEST(Base64url, RejectsStandardAlphabetPaddingAndJunk) {
  EXPECT_FALSE(decodes("+/8"));
  EXPECT_FALSE(decodes("YQ=="));
  EXPECT_FALSE(decodes("YW I"));
  EXPECT_FALSE(decodes("YWJj\n"));
  EXPECT_FALSE(decodes(std::string_view("YW\0j", 4)));
  EXPECT_FALSE(decodes("YWJ\xc3\xa9"));
}

TEST(Base64url, RejectsALengthNoEncodingHas) {
  EXPECT_FALSE(decodes("Y"));
  EXPECT_FALSE(decodes("YWJjZ"));
}

TEST(Base64url, RejectsNonZeroUnusedBits) {
  EXPECT_TRUE(decodes("YQ"));
  EXPECT_FALSE(decodes("YR"));  // same byte 'a', stray low bits
  EXPECT_TRUE(decodes("YWI"));
  EXPECT_FALSE(decodes("YWJ"));
}

TEST(Base64url, ClearsTheOutputOnFailure) {
  std::string out = "stale";
  EXPECT_FALSE(base64url_decode("@@@@", out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace portico::jwt
