// What a route does once its request filters have let the request through: proxy it to an
// upstream (actions/proxy), answer it from config (actions/respond), and later aggregate
// several calls or translate to gRPC. A route holds its action; the session runs it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "proxy/request_context.h"
#include "proxy/response_writer.h"

namespace portico::proxy {

class Action {
 public:
  virtual ~Action() = default;
  virtual std::string_view name() const = 0;
  // Answers the request through `writer`. False when the answer could not be completed (the
  // client went away, or the upstream broke off mid-body): the session closes the connection.
  virtual boost::asio::awaitable<bool> run(RequestContext& ctx, ResponseWriter& writer) const = 0;
};

}  // namespace portico::proxy
