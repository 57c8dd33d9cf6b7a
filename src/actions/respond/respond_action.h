// `respond:` routes: the gateway answers from config (status, headers, body) without an
// upstream. Codec-neutral: it writes a core::ResponseHead and one body piece.
#pragma once

#include <string>

#include "config/config.h"
#include "proxy/action.h"

namespace portico::actions::respond {

class RespondAction final : public portico::proxy::Action {
 public:
  // `respond` is the route's respond block; `response_headers` its response_headers.
  RespondAction(const config::RespondConfig& respond, const config::HeaderList& response_headers);

  std::string_view name() const override { return "respond"; }
  boost::asio::awaitable<portico::proxy::Outcome> run(
      portico::proxy::RequestContext& ctx, portico::proxy::ResponseWriter& writer) const override;

 private:
  int status_;
  std::string body_;
  config::HeaderList headers_;  // the respond headers, then the route's response_headers
  bool has_content_type_ = false;
};

// A route this build cannot serve (aggregate, grpc, an auth kind not built): 501 with why,
// never an open route.
class NotBuiltAction final : public portico::proxy::Action {
 public:
  explicit NotBuiltAction(std::string reason) : reason_(std::move(reason)) {}
  std::string_view name() const override { return "not_implemented"; }
  const std::string& reason() const { return reason_; }
  boost::asio::awaitable<portico::proxy::Outcome> run(
      portico::proxy::RequestContext& ctx, portico::proxy::ResponseWriter& writer) const override;

 private:
  std::string reason_;
};

}  // namespace portico::actions::respond
