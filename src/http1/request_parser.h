// The HTTP/1.1 request parser: Beast's basic_parser recording views into the caller's buffer
// (no allocation per request once warm). One instance serves one message; reset() re-arms it.
#pragma once

#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <optional>

#include "core/body_pieces.h"
#include "core/request_head.h"

namespace portico::http1 {

using core::BodyPieces;

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  RequestParser(core::RequestHead& head, BodyPieces& body) : head_(head), body_(body) {}

  // Header bytes beyond which error::header_limit is reported, and the body bound.
  void limits(std::uint32_t max_header_bytes, std::uint64_t max_body_bytes);

  bool expects_continue() const { return expect_continue_; }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view method,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::beast::error_code& ec) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code& ec) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override {}

  core::RequestHead& head_;
  BodyPieces& body_;
  bool expect_continue_ = false;
  int transfer_encodings_ = 0;
};

}  // namespace portico::http1
