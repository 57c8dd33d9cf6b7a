#include "actions/respond/respond_action.h"

#include "core/ascii.h"

namespace portico::actions::respond {

RespondAction::RespondAction(const config::RespondConfig& respond,
                             const config::HeaderList& response_headers)
    : status_(respond.status), body_(respond.body), headers_(respond.headers) {
  for (const auto& [name, value] : headers_)
    has_content_type_ = has_content_type_ || core::iequals(name, "content-type");
  headers_.insert(headers_.end(), response_headers.begin(), response_headers.end());
}

boost::asio::awaitable<portico::proxy::Outcome> RespondAction::run(
    portico::proxy::RequestContext& ctx, portico::proxy::ResponseWriter& writer) const {
  auto& head = ctx.response;
  head.status = status_;
  for (const auto& [name, value] : headers_) head.add(name, value);
  if (!has_content_type_) head.add("Content-Type", "text/plain; charset=utf-8");
  head.content_length = body_.size();
  writer.start(head);
  co_return co_await writer.write_all(body_) ? portico::proxy::Outcome::Answered
                                             : portico::proxy::Outcome::Broken;
}

boost::asio::awaitable<portico::proxy::Outcome> NotBuiltAction::run(
    portico::proxy::RequestContext& ctx, portico::proxy::ResponseWriter&) const {
  auto& reply = ctx.reply;
  reply.clear();
  reply.status = 501;
  reply.message = reason_;
  reply.error_tag = "not_implemented";
  co_return portico::proxy::Outcome::Reply;
}

}  // namespace portico::actions::respond
