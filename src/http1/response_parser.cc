#include "http1/response_parser.h"

namespace portico::http1 {

void ResponseParser::on_response_impl(int status, boost::beast::string_view reason, int,
                                      boost::beast::error_code&) {
  head_.status = status;
  head_.reason = reason;
}

void ResponseParser::on_field_impl(boost::beast::http::field, boost::beast::string_view name,
                                   boost::beast::string_view value, boost::beast::error_code&) {
  head_.fields.push_back({name, value});
}

std::size_t ResponseParser::on_body_impl(boost::beast::string_view body,
                                         boost::beast::error_code&) {
  body_.add(body);
  return body.size();
}

std::size_t ResponseParser::on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                               boost::beast::error_code&) {
  body_.add(body);
  return body.size();
}

}  // namespace portico::http1
