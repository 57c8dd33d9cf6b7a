// `respond:` routes: the gateway answers from config (status, headers, body) without an
// upstream. Codec-neutral: it writes a core::ResponseHead and one body piece.
#pragma once

#include <string>

#include "config/config.h"
#include "proxy/action.h"

namespace portico::actions::respond {

class RespondAction final : public proxy::Action {
 public:
  // `respond` is the route's respond block; `response_headers` its response_headers.
  RespondAction(const config::RespondConfig& respond, const config::HeaderList& response_headers);

  std::string_view name() const override { return "respond"; }
  boost::asio::awaitable<bool> run(proxy::RequestContext& ctx,
                                   proxy::ResponseWriter& writer) const override;

 private:
  int status_;
  std::string body_;
  config::HeaderList headers_;  // the respond headers, then the route's response_headers
  bool has_content_type_ = false;
};

}  // namespace portico::actions::respond
