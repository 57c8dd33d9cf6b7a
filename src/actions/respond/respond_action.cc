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

boost::asio::awaitable<bool> RespondAction::run(proxy::RequestContext& ctx,
                                                proxy::ResponseWriter& writer) const {
  auto& head = ctx.response;
  head.status = status_;
  for (const auto& [name, value] : headers_) head.add(name, value);
  if (!has_content_type_) head.add("Content-Type", "text/plain; charset=utf-8");
  head.content_length = body_.size();
  writer.start(head);
  co_return co_await writer.write_all(body_);
}

}  // namespace portico::actions::respond
