#include "http1/request_parser.h"

#include <boost/beast/http/error.hpp>

namespace portico::http1 {

namespace http = boost::beast::http;

void RequestParser::limits(std::uint32_t max_header_bytes, std::uint64_t max_body_bytes) {
  header_limit(max_header_bytes);
  body_limit(max_body_bytes);
}

void RequestParser::on_request_impl(http::verb, boost::beast::string_view method,
                                    boost::beast::string_view target, int version,
                                    boost::beast::error_code& ec) {
  head_.method = method;
  head_.target = target;
  head_.version = version;
  auto q = target.find('?');
  if (q == boost::beast::string_view::npos) {
    head_.raw_path = target;
  } else {
    head_.raw_path = target.substr(0, q);
    head_.query = target.substr(q + 1);
    head_.has_query = true;
  }
  // Only origin-form targets are proxied; absolute-form and authority-form are refused.
  if (target.empty() || target.front() != '/') ec = http::error::bad_target;
}

void RequestParser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                  boost::beast::string_view value, boost::beast::error_code& ec) {
  if (name == http::field::transfer_encoding) {
    // Anything but exactly one "chunked" coding is a smuggling sign for a request (RFC 9112 6.1).
    if (++transfer_encodings_ > 1 || !core::iequals(value, "chunked")) {
      ec = http::error::bad_transfer_encoding;
      return;
    }
  } else if (name == http::field::expect) {
    expect_continue_ = core::iequals(value, "100-continue");
  }
  head_.fields.push_back({name_string, value});
}

void RequestParser::on_header_impl(boost::beast::error_code& ec) {
  if (head_.version == 11 && !head_.has("host")) ec = http::error::bad_field;
}

std::size_t RequestParser::on_body_impl(boost::beast::string_view body, boost::beast::error_code&) {
  body_.add(body);
  return body.size();
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                              boost::beast::error_code&) {
  body_.add(body);
  return body.size();
}

}  // namespace portico::http1
