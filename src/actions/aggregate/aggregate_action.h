// The aggregate action: one client request fans out to several upstream calls on the worker
// it arrived on, and their answers come back as one JSON object, a member per call. Each call
// is a whole proxied request of its own (the proxy action: balancer, breaker, health, outlier
// detection, retries, timeouts, metrics), made with the client's credentials and request id.
// Calls without depends_on start at once; the others when the calls they name have answered,
// their paths filled from those answers. A failed optional call is null; a failed required
// call fails the answer (502, or 504 on a timeout) and cancels the calls still running.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actions/aggregate/call_path.h"
#include "actions/proxy/proxy_action.h"
#include "config/config.h"
#include "proxy/action.h"

namespace portico::actions::aggregate {

using portico::proxy::Outcome;
using portico::proxy::RequestContext;
using portico::proxy::ResponseWriter;

// One call as compiled from `aggregate.calls.NAME`.
struct CallPlan {
  std::string name;
  bool optional = false;
  std::vector<std::string> fields;      // members kept; empty: all
  std::vector<std::size_t> depends_on;  // indexes of the calls it waits for
  CallPath path;
  std::unique_ptr<proxy::ProxyAction> proxy;  // to the call's upstream
};

struct AggregatePlan {
  std::vector<CallPlan> calls;  // in the order written; the answer's members in that order
  std::optional<config::Duration> timeout;  // the whole aggregate; each call keeps its own
  std::uint64_t max_call_body = 1024 * 1024;
  config::HeaderList response_headers;
};

class AggregateAction final : public portico::proxy::Action {
 public:
  explicit AggregateAction(AggregatePlan plan);

  std::string_view name() const override { return "aggregate"; }
  boost::asio::awaitable<Outcome> run(RequestContext& ctx, ResponseWriter& writer) const override;

  struct Scratch;  // per connection (RequestContext::scratch)

 private:
  bool required_failed(const Scratch& s) const;
  void start_ready(RequestContext& ctx, Scratch& s) const;
  boost::asio::awaitable<void> run_call(Scratch& s, std::size_t index) const;
  void settle(Scratch& s, std::size_t index, Outcome outcome) const;
  void abandon_running(Scratch& s, bool timed_out) const;
  boost::asio::awaitable<Outcome> answer(RequestContext& ctx, ResponseWriter& writer,
                                         Scratch& s) const;
  Outcome fail(RequestContext& ctx, Scratch& s) const;

  AggregatePlan plan_;
};

}  // namespace portico::actions::aggregate
