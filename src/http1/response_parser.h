// The upstream response parser: the head it fills holds views into the upstream read buffer.
#pragma once

#include <string_view>
#include <vector>

#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/basic_parser.hpp>

#include "core/body_pieces.h"
#include "core/response_head.h"

namespace portico::http1 {

using core::BodyPieces;

using ResponseHead = core::ResponseHead;

class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  ResponseParser(ResponseHead& head, BodyPieces& body) : head_(head), body_(body) {}

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view,
                       boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_response_impl(int status, boost::beast::string_view reason, int version,
                        boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field, boost::beast::string_view name,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::beast::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code&) override;
  void on_finish_impl(boost::beast::error_code&) override {}

  ResponseHead& head_;
  BodyPieces& body_;
};

}  // namespace portico::http1
