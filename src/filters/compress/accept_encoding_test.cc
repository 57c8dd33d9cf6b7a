// Accept-Encoding negotiation: q-values, refusals, `*`, identity, case and whitespace, and
// what a malformed member does (it is skipped; the rest still counts).
#include "filters/compress/accept_encoding.h"

#include <gtest/gtest.h>

#include <vector>

namespace portico::filters::compress {
namespace {

const std::vector<Encoding> kServer = {Encoding::Zstd, Encoding::Br, Encoding::Gzip};

Encoding pick(std::string_view accept_encoding, const std::vector<Encoding>& server = kServer) {
  return negotiate(accept_encoding, server);
}

TEST(Negotiate, AbsentOrEmptyFieldMeansIdentity) {
  EXPECT_EQ(pick(""), Encoding::Identity);
  EXPECT_EQ(pick("   "), Encoding::Identity);
  EXPECT_EQ(pick(" , ,"), Encoding::Identity);
}

TEST(Negotiate, ServerPreferenceBreaksTiesAmongEqualQ) {
  EXPECT_EQ(pick("gzip, deflate, br, zstd"), Encoding::Zstd);
  EXPECT_EQ(pick("gzip, br"), Encoding::Br);
  EXPECT_EQ(pick("gzip, br", {Encoding::Gzip, Encoding::Br}), Encoding::Gzip);
  EXPECT_EQ(pick("gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("deflate, compress"), Encoding::Identity);
}

TEST(Negotiate, OnlyEncodingsTheServerOffersArePicked) {
  EXPECT_EQ(pick("zstd, br", {Encoding::Gzip}), Encoding::Identity);
  EXPECT_EQ(pick("zstd, gzip;q=0.1", {Encoding::Gzip}), Encoding::Gzip);
  EXPECT_EQ(pick("gzip", {}), Encoding::Identity);
}

TEST(Negotiate, HigherClientQWins) {
  EXPECT_EQ(pick("br;q=0.5, gzip;q=1"), Encoding::Gzip);
  EXPECT_EQ(pick("zstd;q=0.2, br;q=0.9, gzip;q=0.5"), Encoding::Br);
  EXPECT_EQ(pick("zstd;q=0.999, gzip;q=1.000"), Encoding::Gzip);
  EXPECT_EQ(pick("gzip;q=0.001"), Encoding::Gzip);
}

TEST(Negotiate, QZeroRefuses) {
  EXPECT_EQ(pick("zstd;q=0, br;q=0, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("gzip;q=0"), Encoding::Identity);
  EXPECT_EQ(pick("gzip;q=0.000, br;q=0.0"), Encoding::Identity);
  EXPECT_EQ(pick("*;q=0"), Encoding::Identity);
}

TEST(Negotiate, StarStandsForEveryCodingNotNamed) {
  EXPECT_EQ(pick("*"), Encoding::Zstd);
  EXPECT_EQ(pick("zstd;q=0, *"), Encoding::Br);
  EXPECT_EQ(pick("*;q=0.5, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("gzip;q=0.1, *;q=0"), Encoding::Gzip);
}

TEST(Negotiate, IdentityOnlyRefusesCompression) {
  EXPECT_EQ(pick("identity;q=1, *;q=0"), Encoding::Identity);
  EXPECT_EQ(pick("identity"), Encoding::Identity);
  // Identity rated above every accepted coding: the client would rather have plain bytes.
  EXPECT_EQ(pick("identity;q=1, gzip;q=0.5"), Encoding::Identity);
  // Identity refused or rated equal does not stop compression.
  EXPECT_EQ(pick("identity;q=0, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("identity, gzip"), Encoding::Gzip);
}

TEST(Negotiate, TokensAndParametersIgnoreCase) {
  EXPECT_EQ(pick("GZIP"), Encoding::Gzip);
  EXPECT_EQ(pick("Br;Q=0.5, gZip;q=0.4"), Encoding::Br);
  EXPECT_EQ(pick("ZSTD;Q=0, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("x-gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("IDENTITY;q=1, *;Q=0"), Encoding::Identity);
}

TEST(Negotiate, WhitespaceAroundMembersAndParametersIsAllowed) {
  EXPECT_EQ(pick("  gzip ;  q=0.5 ,\tbr ; q=0.7  "), Encoding::Br);
  EXPECT_EQ(pick("gzip,br"), Encoding::Br);
  EXPECT_EQ(pick("gzip;q=1;foo=bar"), Encoding::Gzip);
}

TEST(Negotiate, MalformedMembersAreSkipped) {
  EXPECT_EQ(pick("br;q=2, gzip"), Encoding::Gzip);       // q above 1
  EXPECT_EQ(pick("br;q=0.1234, gzip"), Encoding::Gzip);  // four decimals
  EXPECT_EQ(pick("br;q=1.5, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("br;q=, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("br;q=abc, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("br;q=-1, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("br;q, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("b r, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick(";q=1, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick("zstd\x01, gzip"), Encoding::Gzip);
  EXPECT_EQ(pick(";;;,,,==="), Encoding::Identity);
  // A malformed refusal refuses nothing; a malformed star grants nothing.
  EXPECT_EQ(pick("gzip;q=0x, gzip;q=0.3"), Encoding::Gzip);
  EXPECT_EQ(pick("*;q=1.1"), Encoding::Identity);
}

TEST(Negotiate, ACodingNamedTwiceKeepsItsFirstQ) {
  EXPECT_EQ(pick("gzip;q=0, gzip"), Encoding::Identity);
  EXPECT_EQ(pick("gzip, x-gzip;q=0"), Encoding::Gzip);
}

TEST(EncodingName, RoundTripsThroughTheToken) {
  for (auto e : {Encoding::Gzip, Encoding::Br, Encoding::Zstd})
    EXPECT_EQ(encoding_from_name(encoding_name(e)), e);
  EXPECT_EQ(encoding_name(Encoding::Identity), "identity");
  EXPECT_EQ(encoding_from_name("deflate"), Encoding::Identity);
}

}  // namespace
}  // namespace portico::filters::compress
