#include "routing/path_normalizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using portico::routing::normalize_path;
using portico::routing::NormalizeResult;

namespace {

struct Case {
  std::string input;
  NormalizeResult result;
  std::string output;  // checked only when result is Ok
};

void expect_cases(const std::vector<Case>& cases) {
  std::string out;
  for (const auto& c : cases) {
    SCOPED_TRACE("input: " + c.input);
    EXPECT_EQ(normalize_path(c.input, out), c.result);
    if (c.result == NormalizeResult::Ok) {
      EXPECT_EQ(out, c.output);
    }
  }
}

constexpr auto Ok = NormalizeResult::Ok;
constexpr auto Climbs = NormalizeResult::ClimbsAboveRoot;
constexpr auto Invalid = NormalizeResult::Invalid;

}  // namespace

TEST(NormalizePath, LeavesCleanPathsAlone) {
  expect_cases({
      {"/", Ok, "/"},
      {"/api/v1/users", Ok, "/api/v1/users"},
      {"/a/", Ok, "/a/"},
      {"/a:b@c!$&'()*+,;=-._~", Ok, "/a:b@c!$&'()*+,;=-._~"},
  });
}

TEST(NormalizePath, ResolvesDotSegments) {
  expect_cases({
      {"/a/./b", Ok, "/a/b"},
      {"/a/b/../c", Ok, "/a/c"},
      {"/public/../admin", Ok, "/admin"},
      {"/a/.", Ok, "/a/"},
      {"/a/..", Ok, "/"},
      {"/a/../", Ok, "/"},
      {"/.", Ok, "/"},
      {"/./", Ok, "/"},
      {"/a/b/../../c/", Ok, "/c/"},
      {"/...", Ok, "/..."},
      {"/a/.b/..c", Ok, "/a/.b/..c"},
  });
}

TEST(NormalizePath, TreatsEncodedDotsAsDots) {
  expect_cases({
      {"/a/%2e/b", Ok, "/a/b"},
      {"/a/%2E%2e/b", Ok, "/b"},
      {"/public/%2e%2e/admin", Ok, "/admin"},
      {"/public/.%2E/admin", Ok, "/admin"},
      {"/%2e%2e/", Climbs, ""},
  });
}

TEST(NormalizePath, MergesRepeatedSlashes) {
  expect_cases({
      {"//admin", Ok, "/admin"},
      {"/a//b///c", Ok, "/a/b/c"},
      {"/a//", Ok, "/a/"},
      {"///", Ok, "/"},
      {"/a/.//b", Ok, "/a/b"},
  });
}

TEST(NormalizePath, DecodesUnreservedEscapesOnly) {
  expect_cases({
      {"/api/%61dmin", Ok, "/api/admin"},
      {"/%41%5a%30%2D%5F%7E", Ok, "/AZ0-_~"},
      {"/a%2fb", Ok, "/a%2Fb"},
      {"/a%2Fb", Ok, "/a%2Fb"},
      {"/a%3fb%23c", Ok, "/a%3Fb%23c"},
      {"/caf%c3%a9", Ok, "/caf%C3%A9"},
      {"/a%20b", Ok, "/a%20b"},
      {"/%00", Ok, "/%00"},
      {"/%2e%2e%2fadmin", Ok, "/..%2Fadmin"},
  });
}

TEST(NormalizePath, ReportsClimbingAboveRoot) {
  expect_cases({
      {"/..", Climbs, ""},
      {"/../a", Climbs, ""},
      {"/a/../..", Climbs, ""},
      {"/a/../../b", Climbs, ""},
      {"//..//a", Climbs, ""},
  });
}

TEST(NormalizePath, RejectsBadEscapes) {
  expect_cases({
      {"/a%G1", Invalid, ""},
      {"/a%1G", Invalid, ""},
      {"/a%4", Invalid, ""},
      {"/a%", Invalid, ""},
      {"/%%30", Invalid, ""},
  });
}

TEST(NormalizePath, RejectsBytesThatCannotAppearInAPath) {
  expect_cases({
      {"", Invalid, ""},
      {"a/b", Invalid, ""},
      {"*", Invalid, ""},
      {"/a b", Invalid, ""},
      {"/a\tb", Invalid, ""},
      {std::string("/a\0b", 4), Invalid, ""},
      {"/a\x7f", Invalid, ""},
      {"/a\\..\\admin", Invalid, ""},
      {"/caf\xc3\xa9", Invalid, ""},
      {"/a?b", Invalid, ""},
      {"/a#b", Invalid, ""},
      {"/{id}", Invalid, ""},
      {"/a|b", Invalid, ""},
  });
}

TEST(NormalizePath, IsIdempotent) {
  std::string once, twice;
  for (const char* input : {"/a/./b/../c//d/", "/%61%2f%2E%2e", "/x/%7e/../y"}) {
    ASSERT_EQ(normalize_path(input, once), Ok) << input;
    ASSERT_EQ(normalize_path(once, twice), Ok) << input;
    EXPECT_EQ(once, twice);
  }
}

TEST(NormalizePath, DoesNotAllocateOnceOutputHasCapacity) {
  std::string out;
  out.reserve(64);
  const char* data = out.data();
  EXPECT_EQ(normalize_path("/a/%62/../c//d", out), Ok);
  EXPECT_EQ(out, "/a/c/d");
  EXPECT_EQ(out.data(), data);
}
