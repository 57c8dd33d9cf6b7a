#include "http1/request_parser.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace portico;
namespace http = boost::beast::http;

namespace {

struct Parsed {
  std::string raw;  // the views below point into it
  core::RequestHead head;
  core::BodyPieces body;
  boost::system::error_code ec;
  bool header_done = false;
  bool done = false;
  std::string body_text() const {
    std::string out;
    for (auto p : body.pieces) out += p;
    return out;
  }
};

// Feeds `raw` to a fresh parser the way the session does (head, then body eagerly).
std::unique_ptr<Parsed> parse_ptr(const std::string& input, std::uint32_t header_limit,
                                  std::uint64_t body_limit) {
  auto owned = std::make_unique<Parsed>();
  Parsed& result = *owned;
  result.raw = input;
  const std::string& raw = result.raw;
  http1::RequestParser parser(result.head, result.body);
  parser.limits(header_limit, body_limit);
  parser.eager(true);
  std::size_t used = parser.put(boost::asio::buffer(raw), result.ec);
  while (!result.ec && !parser.is_done() && used < raw.size()) {
    auto n = parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), result.ec);
    if (n == 0) break;
    used += n;
  }
  result.header_done = parser.is_header_done();
  result.done = parser.is_done();
  return owned;
}

const Parsed& parse(const std::string& input, std::uint32_t header_limit = 16384,
                    std::uint64_t body_limit = 1 << 20) {
  static std::vector<std::unique_ptr<Parsed>> kept;  // results outlive the call for the test
  kept.push_back(parse_ptr(input, header_limit, body_limit));
  return *kept.back();
}

}  // namespace

TEST(RequestParser, RecordsMethodTargetQueryAndFields) {
  const auto& r = parse("GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.head.method, "GET");
  EXPECT_EQ(r.head.raw_path, "/a/b");
  EXPECT_EQ(r.head.query, "x=1&y");
  EXPECT_TRUE(r.head.has_query);
  EXPECT_EQ(r.head.find("x-a"), "1");
  EXPECT_EQ(r.head.version, 11);
}

TEST(RequestParser, DeliversContentLengthBody) {
  const auto& r = parse("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_FALSE(r.ec);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body_text(), "hello");
}

TEST(RequestParser, DecodesChunkedBody) {
  const auto& r = parse(
      "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body_text(), "abcde");
}

TEST(RequestParser, RejectsContentLengthWithTransferEncoding) {
  const auto& r = parse(
      "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(r.ec);
  const auto& r2 = parse(
      "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
  EXPECT_TRUE(r2.ec);
}

TEST(RequestParser, RejectsConflictingContentLengths) {
  const auto& r =
      parse("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
  EXPECT_TRUE(r.ec);
}

TEST(RequestParser, RejectsTransferCodingsOtherThanChunked) {
  EXPECT_TRUE(parse("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n").ec);
  EXPECT_TRUE(parse("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                    "chunked\r\nTransfer-Encoding: chunked\r\n\r\n")
                  .ec);
}

TEST(RequestParser, RejectsBadChunkSize) {
  const auto& r =
      parse("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
  EXPECT_TRUE(r.ec);
}

TEST(RequestParser, RejectsMissingHostOnHttp11) {
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nX: y\r\n\r\n").ec);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").ec);
}

TEST(RequestParser, RejectsAbsoluteFormTargets) {
  EXPECT_TRUE(parse("GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n").ec);
}

TEST(RequestParser, ReportsHeaderLimit) {
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse(big, 1024).ec, http::error::header_limit);
}

TEST(RequestParser, ReportsBodyLimitFromContentLength) {
  const auto& r = parse("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", 16384, 10);
  EXPECT_EQ(r.ec, http::error::body_limit);
}

TEST(RequestParser, NotesExpectContinue) {
  core::RequestHead head;
  core::BodyPieces body;
  http1::RequestParser parser(head, body);
  boost::system::error_code ec;
  std::string raw =
      "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  parser.put(boost::asio::buffer(raw), ec);
  EXPECT_TRUE(parser.expects_continue());
}
