// The compress filter through a request context, as a route's chain runs it: which answers it
// compresses, how it rewrites their heads, and bodies that decode to what the upstream sent.
#include "filters/compress/compress_filter.h"

#include <gtest/gtest.h>

#include "filters/compress/test_decoder.h"

namespace portico::filters::compress {
namespace {

struct TestExchange {
  core::RequestHead request;
  proxy::RequestContext ctx;
  core::ResponseHead head;

  explicit TestExchange(std::string_view accept_encoding, std::string_view method = "GET") {
    request.method = method;
    request.path = "/items";
    if (!accept_encoding.empty()) request.fields.push_back({"Accept-Encoding", accept_encoding});
    ctx.head = &request;
    head.status = 200;
    head.add("Content-Type", "application/json; charset=utf-8");
  }
  // The answer's head as the filter leaves it.
  core::ResponseHead& respond(const CompressFilter& filter) {
    EXPECT_EQ(filter.on_response(ctx, head), proxy::Next::Continue);
    return head;
  }
  // The bytes the client gets for these pieces of the body.
  std::string body(const CompressFilter& filter, std::string_view piece, bool last) {
    core::BodyPieces pieces;
    pieces.add(piece);
    proxy::BodyChunk chunk{pieces, last};
    filter.on_body(ctx, chunk);
    std::string out;
    for (auto p : chunk.pieces.pieces) out.append(p);
    return out;
  }
};

std::string json_text(std::size_t size) {
  std::string out;
  while (out.size() < size) out += R"({"id": 12345, "name": "portico"},)";
  return out.substr(0, size);
}

TEST(CompressFilter, CompressesAQualifyingAnswerAndRewritesItsHead) {
  CompressFilter filter{CompressionConfig{}};
  TestExchange x("gzip, br");
  x.head.content_length = 5000;
  x.head.add("ETag", "\"v1\"");
  x.head.add("Vary", "Origin");
  auto& head = x.respond(filter);
  EXPECT_EQ(head.find("Content-Encoding"), "br");
  EXPECT_FALSE(head.content_length.has_value());
  EXPECT_EQ(head.find("ETag"), "W/\"v1\"");
  EXPECT_EQ(head.find("Vary"), "Origin, Accept-Encoding");

  auto text = json_text(5000);
  TestDecoder decoder(Encoding::Br);
  auto first = x.body(filter, std::string_view(text).substr(0, 2000), false);
  EXPECT_EQ(decoder.feed(first), text.substr(0, 2000));  // flushed: decodable at once
  auto rest = x.body(filter, std::string_view(text).substr(2000), true);
  EXPECT_EQ(decoder.feed(rest), text.substr(2000));
  EXPECT_TRUE(decoder.done);
}

TEST(CompressFilter, ServerPreferenceComesFromTheConfig) {
  CompressionConfig config;
  config.encodings = {"gzip", "zstd"};
  CompressFilter filter{config};
  TestExchange x("zstd, br, gzip");
  EXPECT_EQ(x.respond(filter).find("Content-Encoding"), "gzip");
  TestExchange only_br("br");
  EXPECT_FALSE(only_br.respond(filter).has("Content-Encoding"));
}

TEST(CompressFilter, VaryIsNotRepeatedAndAWeakETagStaysAsItIs) {
  CompressFilter filter{CompressionConfig{}};
  TestExchange x("gzip");
  x.head.add("Vary", "accept-encoding, Origin");
  x.head.add("ETag", "W/\"v2\"");
  auto& head = x.respond(filter);
  EXPECT_EQ(head.find("Vary"), "accept-encoding, Origin");
  EXPECT_EQ(head.find("ETag"), "W/\"v2\"");
  EXPECT_EQ(head.find("Content-Encoding"), "gzip");
}

TEST(CompressFilter, SayVaryEvenWhenThisClientGetsPlainBytes) {
  CompressFilter filter{CompressionConfig{}};
  TestExchange x("identity;q=1, *;q=0");
  auto& head = x.respond(filter);
  EXPECT_FALSE(head.has("Content-Encoding"));
  EXPECT_EQ(head.find("Vary"), "Accept-Encoding");
  EXPECT_EQ(x.body(filter, "plain", true), "plain");
}

TEST(CompressFilter, LeavesAnswersThatDoNotQualifyAlone) {
  CompressFilter filter{CompressionConfig{}};
  auto untouched = [&](auto&& setup, std::string_view method = "GET") {
    TestExchange x("gzip", method);
    setup(x);
    bool compressed = x.respond(filter).find("Content-Encoding") == "gzip";
    if (!compressed) {
      EXPECT_EQ(x.body(filter, "the body", true), "the body");
    }
    return !compressed;
  };
  EXPECT_TRUE(untouched([](TestExchange& x) { x.head.content_length = 1023; }));
  EXPECT_TRUE(untouched([](TestExchange& x) { x.head.set("Content-Type", "image/png"); }));
  EXPECT_TRUE(untouched([](TestExchange& x) { x.head.remove("Content-Type"); }));
  EXPECT_TRUE(untouched([](TestExchange& x) { x.head.add("Content-Encoding", "br"); }));
  EXPECT_TRUE(
      untouched([](TestExchange& x) { x.head.add("Cache-Control", "public, no-transform"); }));
  for (int status : {101, 204, 206, 304})
    EXPECT_TRUE(untouched([&](TestExchange& x) { x.head.status = status; })) << status;
  EXPECT_TRUE(untouched([](TestExchange&) {}, "HEAD"));
  EXPECT_TRUE(untouched([](TestExchange& x) { x.request.fields.clear(); }));
  // The ones that do, for contrast: unknown length, text/*, an identity Content-Encoding.
  EXPECT_FALSE(untouched([](TestExchange& x) { x.head.set("Content-Type", "text/csv"); }));
  EXPECT_FALSE(untouched([](TestExchange& x) { x.head.content_length = 1024; }));
  EXPECT_FALSE(untouched([](TestExchange& x) { x.head.add("Content-Encoding", "identity"); }));
}

TEST(CompressFilter, ReplacementHeadAfterTheFirstIsLeftAlone) {
  CompressFilter filter{CompressionConfig{}};
  TestExchange x("gzip");
  EXPECT_EQ(x.respond(filter).find("Content-Encoding"), "gzip");
  // A later filter answered instead: its head comes through again, its body past on_body.
  core::ResponseHead replacement;
  replacement.status = 200;
  replacement.add("Content-Type", "text/plain");
  EXPECT_EQ(filter.on_response(x.ctx, replacement), proxy::Next::Continue);
  EXPECT_FALSE(replacement.has("Content-Encoding"));
  EXPECT_EQ(x.body(filter, "stale", true), "stale");
}

TEST(CompressFilter, MatchesMediaTypesWithoutParametersOrCase) {
  CompressionConfig config;
  config.types = {"text/*", "application/json"};
  CompressFilter filter{config};
  EXPECT_TRUE(filter.compressible_type("text/html"));
  EXPECT_TRUE(filter.compressible_type("TEXT/Event-Stream; charset=utf-8"));
  EXPECT_TRUE(filter.compressible_type(" application/json ;charset=utf-8"));
  EXPECT_FALSE(filter.compressible_type("application/jsonx"));
  EXPECT_FALSE(filter.compressible_type("text/"));
  EXPECT_FALSE(filter.compressible_type("textual/plain"));
  EXPECT_FALSE(filter.compressible_type(""));
}

TEST(CompressFilter, ANewRequestStartsAFreshStream) {
  CompressFilter filter{CompressionConfig{}};
  TestExchange x("zstd");
  for (int request = 0; request < 3; ++request) {
    x.ctx.reset();
    x.head.clear();
    x.head.status = 200;
    x.head.add("Content-Type", "text/plain");
    EXPECT_EQ(x.respond(filter).find("Content-Encoding"), "zstd");
    auto text = json_text(3000 + request);
    TestDecoder decoder(Encoding::Zstd);
    EXPECT_EQ(decoder.feed(x.body(filter, text, true)), text);
    EXPECT_TRUE(decoder.done);
  }
}

}  // namespace
}  // namespace portico::filters::compress
