// Each encoder round-trips through its library's own decoder: whole bodies, bodies fed in
// pieces, every flush decodable at once (what streamed answers rely on), empty bodies, and
// one compressor reused for answer after answer.
#include "filters/compress/stream_compressor.h"

#include <gtest/gtest.h>

#include <random>

#include "filters/compress/test_decoder.h"

namespace portico::filters::compress {
namespace {

std::string text_of(std::size_t size, unsigned seed) {
  static constexpr std::string_view kWords[] = {
      "portico ", "gateway ", "{\"id\": ", "42, ", "\"name\": \"x\"}", "\n", "compress ", "zstd "};
  std::mt19937 prng(seed);
  std::string out;
  while (out.size() < size) out.append(kWords[prng() % std::size(kWords)]);
  out.resize(size);
  return out;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 prng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(prng());
  return out;
}

int level_for(Encoding e) {
  return e == Encoding::Gzip ? 5 : e == Encoding::Br ? 4 : 3;
}

class EachEncoding : public ::testing::TestWithParam<Encoding> {};

TEST_P(EachEncoding, WholeBodyDecodesToTheOriginal) {
  StreamCompressor compressor;
  ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam())));
  auto body = text_of(100'000, 1);
  std::string out;
  ASSERT_TRUE(compressor.write(body, out));
  ASSERT_TRUE(compressor.finish(out));
  EXPECT_LT(out.size(), body.size() / 3);  // it did compress
  TestDecoder decoder(GetParam());
  EXPECT_EQ(decoder.feed(out), body);
  EXPECT_TRUE(decoder.done);
}

TEST_P(EachEncoding, WriteAllOfAKnownLengthDecodesToTheOriginal) {
  StreamCompressor compressor;
  for (std::size_t size : {0u, 1u, 10'490u, 40'000u, 300'000u}) {  // below and above 32 KiB
    auto body = text_of(size, 7);
    ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam()), size));
    std::string out;
    ASSERT_TRUE(compressor.write_all(body, out)) << size;
    if (size > 1000) {
      EXPECT_LT(out.size(), body.size() / 3);
    }
    TestDecoder decoder(GetParam());
    EXPECT_EQ(decoder.feed(out), body) << size;
    EXPECT_TRUE(decoder.done);
  }
}

TEST(Gzip, AWholeBodyIsAsSmallAsZlibsStreamMakesIt) {
  auto body = text_of(10'490, 3);
  StreamCompressor whole, stream;
  std::string one_pass, streamed;
  ASSERT_TRUE(whole.start(Encoding::Gzip, 5, body.size()));
  ASSERT_TRUE(whole.write_all(body, one_pass));
  ASSERT_TRUE(stream.start(Encoding::Gzip, 5, body.size()));
  ASSERT_TRUE(stream.write(body, streamed));
  ASSERT_TRUE(stream.finish(streamed));
  // libdeflate at the same level: no larger than zlib's output (within 5%).
  EXPECT_LE(one_pass.size(), streamed.size() * 105 / 100);
  TestDecoder decoder(Encoding::Gzip);
  EXPECT_EQ(decoder.feed(one_pass), body);
}

TEST_P(EachEncoding, EveryFlushIsDecodableBeforeTheNextPiece) {
  StreamCompressor compressor;
  ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam())));
  TestDecoder decoder(GetParam());
  std::string sent;
  for (int i = 0; i < 20; ++i) {
    auto piece = i % 3 == 2 ? random_bytes(3000 + i, i) : text_of(100 + 997 * i, i);
    std::string out;
    ASSERT_TRUE(compressor.write(piece, out));
    ASSERT_TRUE(compressor.flush(out));
    EXPECT_EQ(decoder.feed(out), piece) << "piece " << i;
    EXPECT_FALSE(decoder.done);
    sent += piece;
  }
  std::string out;
  ASSERT_TRUE(compressor.finish(out));
  EXPECT_EQ(decoder.feed(out), "");
  EXPECT_TRUE(decoder.done);
}

TEST_P(EachEncoding, EmptyBodyIsAValidStream) {
  StreamCompressor compressor;
  ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam())));
  std::string out;
  ASSERT_TRUE(compressor.finish(out));
  TestDecoder decoder(GetParam());
  EXPECT_EQ(decoder.feed(out), "");
  EXPECT_TRUE(decoder.done);
}

TEST_P(EachEncoding, LargeBodyInManyPiecesRoundTrips) {
  StreamCompressor compressor;
  ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam())));
  TestDecoder decoder(GetParam());
  std::string decoded;
  std::string expected;
  for (int i = 0; i < 64; ++i) {
    auto piece = text_of(64 * 1024, 100 + i);
    expected += piece;
    std::string out;
    ASSERT_TRUE(compressor.write(piece, out));
    if (i % 4 == 0) {
      ASSERT_TRUE(compressor.flush(out));
    }
    decoded += decoder.feed(out);
  }
  std::string out;
  ASSERT_TRUE(compressor.finish(out));
  decoded += decoder.feed(out);
  EXPECT_TRUE(decoder.done);
  EXPECT_EQ(decoded.size(), expected.size());
  EXPECT_TRUE(decoded == expected);
}

TEST_P(EachEncoding, ACompressorServesAnswerAfterAnswer) {
  StreamCompressor compressor;
  for (int answer = 0; answer < 3; ++answer) {
    ASSERT_TRUE(compressor.start(GetParam(), level_for(GetParam())));
    auto body = text_of(5000 + answer, answer);
    std::string out;
    ASSERT_TRUE(compressor.write(body, out));
    // The second answer is abandoned halfway (a client gone): the next must not mind.
    if (answer == 1) continue;
    ASSERT_TRUE(compressor.finish(out));
    TestDecoder decoder(GetParam());
    EXPECT_EQ(decoder.feed(out), body);
    EXPECT_TRUE(decoder.done);
  }
}

INSTANTIATE_TEST_SUITE_P(Encodings, EachEncoding,
                         ::testing::Values(Encoding::Gzip, Encoding::Br, Encoding::Zstd),
                         [](const auto& info) { return std::string(encoding_name(info.param)); });

TEST(StreamCompressor, SwitchesEncodingBetweenAnswers) {
  StreamCompressor compressor;
  for (auto e : {Encoding::Zstd, Encoding::Gzip, Encoding::Br, Encoding::Gzip, Encoding::Zstd}) {
    ASSERT_TRUE(compressor.start(e, level_for(e)));
    EXPECT_EQ(compressor.encoding(), e);
    auto body = text_of(2000, 7);
    std::string out;
    ASSERT_TRUE(compressor.write(body, out));
    ASSERT_TRUE(compressor.finish(out));
    TestDecoder decoder(e);
    EXPECT_EQ(decoder.feed(out), body) << encoding_name(e);
  }
}

TEST(StreamCompressor, RefusesIdentity) {
  StreamCompressor compressor;
  EXPECT_FALSE(compressor.start(Encoding::Identity, 0));
  std::string out;
  EXPECT_FALSE(compressor.write("x", out));
}

}  // namespace
}  // namespace portico::filters::compress
