// A request filter: built once from config, shared read-only by every request of a route on
// every worker; what one request needs lives in its RequestContext. Filters run in the route's
// order before the action (cors preflight, auth, rbac, ...), and may answer the request
// themselves. The list of filter kinds is in filters/all_filters.cc.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>

#include "proxy/request_context.h"

namespace portico::proxy {

// Continue: the next filter (or the action) runs. Respond: ctx.reply says the answer.
// Wait: the filter needs I/O; the chain awaits on_request_async instead.
enum class Next { Continue, Respond, Wait };

class Filter {
 public:
  virtual ~Filter() = default;
  virtual std::string_view name() const = 0;

  // Before the action. Returns without suspending, so a filter that need not wait costs no
  // coroutine frame. Default: continue.
  virtual Next on_request(RequestContext&) const { return Next::Continue; }
  // Called when on_request returned Wait. Returns Continue or Respond.
  virtual boost::asio::awaitable<Next> on_request_async(RequestContext&) const {
    co_return Next::Continue;
  }
  // The response head going to the client (proxied or answered by the gateway) is being
  // written: append header lines ("Name: value\r\n") to `head`. Default: nothing.
  virtual void on_response(const RequestContext&, std::string& head) const {}
};

}  // namespace portico::proxy
