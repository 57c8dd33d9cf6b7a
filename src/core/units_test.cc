#include "core/units.h"

#include "core/text.h"

#include <gtest/gtest.h>

using namespace portico::core;
using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("2s"), Duration(2s));
  EXPECT_EQ(parse_duration("5m"), Duration(5min));
  EXPECT_EQ(parse_duration("1h"), Duration(1h));
}

TEST(ParseDuration, RejectsMissingOrUnknownUnit) {
  EXPECT_FALSE(parse_duration("250"));
  EXPECT_FALSE(parse_duration("2 days"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration(""));
}

TEST(ParseSize, AcceptsBytesAndBinaryUnits) {
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("16KiB"), 16u * 1024);
  EXPECT_EQ(parse_size("10MiB"), 10u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
  EXPECT_FALSE(parse_size("10XB"));
  EXPECT_FALSE(parse_size("MiB"));
  EXPECT_FALSE(parse_size("99999999999999999999GiB"));
}

TEST(ParseRate, AcceptsCountPerUnit) {
  EXPECT_EQ(parse_rate("100/s"), (Rate{100, std::chrono::seconds(1)}));
  EXPECT_EQ(parse_rate("1000/min"), (Rate{1000, std::chrono::minutes(1)}));
  EXPECT_EQ(parse_rate("10/h"), (Rate{10, std::chrono::hours(1)}));
}

TEST(ParseRate, RejectsZeroAndUnknownUnits) {
  EXPECT_FALSE(parse_rate("0/s"));
  EXPECT_FALSE(parse_rate("10/day"));
  EXPECT_FALSE(parse_rate("10"));
}

TEST(ParsePercent, AcceptsPercentAndFraction) {
  EXPECT_DOUBLE_EQ(*parse_percent("50%"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_percent("0.2"), 0.2);
  EXPECT_FALSE(parse_percent("150%"));
}

TEST(Text, Utf8IsCheckedForWellFormedness) {
  using portico::core::is_utf8;
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain ascii"));
  EXPECT_TRUE(is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(is_utf8("caf\xe9"));                                   // Latin-1
  EXPECT_FALSE(is_utf8("\xc0\xaf"));                                  // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));                              // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));                          // past U+10FFFF
  EXPECT_FALSE(is_utf8("\xe2\x82"));                                  // cut short
  EXPECT_FALSE(is_utf8("\x80"));                                      // a continuation alone
}
