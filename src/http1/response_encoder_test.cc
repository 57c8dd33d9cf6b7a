// What HTTP/1 bytes a codec-neutral answer becomes: status line, fields, the framing chosen
// from the head's length and the request, and the body pieces in that framing.
#include "http1/response_encoder.h"

#include <gtest/gtest.h>

namespace portico::http1 {
namespace {

struct Encoded {
  std::string head;
  std::string body;
  bool closing = false;
};

// Encodes `head` and the body `pieces` (the last one ends the body) for a request of `version`.
Encoded encode(const core::ResponseHead& head, std::vector<std::string_view> pieces,
               int version = 11, bool head_only = false, bool closing = false) {
  ResponseEncoder encoder;
  Encoded out;
  out.closing = closing;
  encoder.encode_head(head, version, head_only, out.closing, out.head);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    BodyPieces body;
    body.add(pieces[i]);
    std::vector<boost::asio::const_buffer> iov;
    encoder.encode_body(body, i + 1 == pieces.size(), iov);
    for (auto b : iov) out.body.append(static_cast<const char*>(b.data()), b.size());
  }
  return out;
}

core::ResponseHead head_of(int status, std::optional<std::uint64_t> length) {
  core::ResponseHead head;
  head.status = status;
  head.add("Content-Type", "text/plain");
  head.content_length = length;
  return head;
}

TEST(ResponseEncoder, AKnownLengthIsContentLength) {
  auto out = encode(head_of(200, 5), {"hello"});
  EXPECT_EQ(out.head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(out.body, "hello");
  EXPECT_FALSE(out.closing);
}

TEST(ResponseEncoder, AnUnknownLengthIsChunkedForHttp11) {
  auto out = encode(head_of(200, std::nullopt), {"abc", "", "de"});
  EXPECT_NE(out.head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(out.body, "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
}

TEST(ResponseEncoder, AnUnknownLengthToHttp10EndsWithTheConnection) {
  auto out = encode(head_of(200, std::nullopt), {"abc", "de"}, 10);
  EXPECT_TRUE(out.closing);
  EXPECT_NE(out.head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(out.head.find("chunked"), std::string::npos);
  EXPECT_EQ(out.body, "abcde");
}

TEST(ResponseEncoder, Http10KeepAliveIsConfirmed) {
  auto out = encode(head_of(200, 2), {"ok"}, 10);
  EXPECT_FALSE(out.closing);
  EXPECT_NE(out.head.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(ResponseEncoder, ClosingSaysSo) {
  auto out = encode(head_of(200, 2), {"ok"}, 11, false, true);
  EXPECT_NE(out.head.find("Connection: close\r\n"), std::string::npos);
}

TEST(ResponseEncoder, HeadAnswersCarryTheLengthButNoBody) {
  auto out = encode(head_of(200, 5), {"hello"}, 11, /*head_only=*/true);
  EXPECT_NE(out.head.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(out.body, "");
}

TEST(ResponseEncoder, NoContentHasNeitherLengthNorBody) {
  auto out = encode(head_of(204, 0), {""});
  EXPECT_EQ(out.head, "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n");
  EXPECT_EQ(out.body, "");
}

TEST(ResponseEncoder, AnUpstreamsBodylessHeadKeepsItsOwnLength) {
  core::ResponseHead head;
  head.status = 304;
  head.add("Content-Length", "120");
  head.keep_framing = true;
  head.content_length = 7;  // ignored: the upstream's field stands
  auto out = encode(head, {});
  EXPECT_EQ(out.head, "HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\n\r\n");
}

TEST(ResponseEncoder, AnUnknownStatusKeepsTheUpstreamsReason) {
  core::ResponseHead head;
  head.status = 599;
  head.reason = "Network Timeout";
  head.content_length = 0;
  EXPECT_EQ(encode(head, {""}).head.substr(0, 30), "HTTP/1.1 599 Network Timeout\r\n");
  head.status = 404;
  head.reason = "Nope";
  EXPECT_EQ(encode(head, {""}).head.substr(0, 24), "HTTP/1.1 404 Not Found\r\n");
}

TEST(ResponseHead, AddedCopiesOutliveTheirSource) {
  core::ResponseHead head;
  {
    std::string value = "a value made for this answer";
    head.add_copy("X-Made", value);
    for (int i = 0; i < 100; ++i) head.add_copy("X-More", std::to_string(i));
  }
  EXPECT_EQ(head.find("x-made"), "a value made for this answer");
  head.set("X-Made", "replaced");
  EXPECT_EQ(head.find("X-Made"), "replaced");
  head.remove("x-more");
  EXPECT_EQ(head.fields.size(), 1u);
}

}  // namespace
}  // namespace portico::http1
