// A request filter: built once from config, shared read-only by every request of a route on
// every worker; what one request needs lives in its RequestContext (its state slot among
// them). Filters run in the route's order around the action (cors preflight, auth, rbac, ...)
// and may answer the request themselves. Everything here is codec-neutral: header lists and
// core::ResponseHead, never HTTP/1 text. The list of filter kinds is in filters/all_filters.cc.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/body_pieces.h"
#include "proxy/request_context.h"

namespace portico::proxy {

// Continue: the next filter (or the action) runs. Respond: ctx.reply says the answer.
// Wait: the filter needs I/O; the chain awaits on_request_async instead.
enum class Next { Continue, Respond, Wait };

// Response body bytes on their way to the client. A filter that rewrites them (a compressor)
// replaces `pieces` with views into storage it owns for the request (its state slot).
struct BodyChunk {
  core::BodyPieces& pieces;
  bool last = false;  // the answer ends with these
};

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
  // The copy of the request that goes upstream is being built: add to ctx.upstream_edits.
  virtual void on_upstream_request(RequestContext&) const {}
  // The answer's head is about to be written: whoever made it (the upstream, the action, a
  // filter's local reply). Edit it, or return Respond with ctx.reply set to answer instead
  // (an upstream's answer only: a local reply is not replaced again). Setting
  // head.content_length to nullopt makes the codec frame the body itself (chunked).
  virtual Next on_response(RequestContext&, core::ResponseHead&) const { return Next::Continue; }
  // Each piece of the answer's body, in order, before the codec frames it. Synchronous.
  virtual void on_body(RequestContext&, BodyChunk&) const {}
  // The request is over, whatever happened (answered, refused, client gone): once.
  virtual void on_complete(RequestContext&) const {}

  // Reload and DNS recompile: `previous` is the filter at the same place of the same route in
  // the snapshot being replaced, of the same kind. A filter whose config is unchanged takes
  // over its long-lived state (caches, counters) here, so a reload does not reset it.
  virtual void carry_state_from(const Filter& previous) { (void)previous; }

  // The slot of ctx.state this filter's per-request state lives in (set when the chain is
  // built: the filter's index in its chain).
  std::size_t state_slot() const { return state_slot_; }
  void set_state_slot(std::size_t slot) { state_slot_ = slot; }

 private:
  std::size_t state_slot_ = 0;
};

}  // namespace portico::proxy
