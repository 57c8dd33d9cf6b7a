// What a route does once its request filters have let the request through: proxy it to an
// upstream (actions/proxy), answer it from config (actions/respond), and later aggregate
// several calls or translate to gRPC. A route holds its action; the session runs it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "proxy/request_context.h"
#include "proxy/response_writer.h"

namespace portico::proxy {

// How an action ended. Answered: through the writer, whole. Reply: not at all; the session
// sends ctx.reply (an error, a refusal). Broken: the answer could not be completed (the client
// went away, the upstream broke off mid-body, the connection was upgraded and has ended): the
// session closes the connection.
enum class Outcome { Answered, Reply, Broken };

class Action {
 public:
  virtual ~Action() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<Outcome> run(RequestContext& ctx,
                                              ResponseWriter& writer) const = 0;
};

}  // namespace portico::proxy
