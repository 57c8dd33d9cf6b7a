#include "actions/aggregate/aggregate_action.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "actions/aggregate/call_writer.h"
#include "core/error_body.h"
#include "core/text.h"
#include "proxy/request_body.h"

namespace portico::actions::aggregate {

namespace asio = boost::asio;
template <class T>
using Task = asio::awaitable<T>;

namespace {

enum class CallState {
  Waiting,  // for the calls it depends on
  Running,
  Answered,   // a 2xx answer, kept in `body` (and `json` when it parsed)
  Failed,     // any other answer, an error, a missing field, a failed dependency
  Cancelled,  // stopped, or never started, because the answer was already decided
};

// The request a call makes: a GET built from its path, carrying a few of the client's fields.
// Which fields, and why: Authorization because the calls act for the client whose credentials
// the route checked; the forwarding fields so that X-Forwarded-For keeps its chain through a
// trusted proxy. The rest (Host, cookies, the client's framing) belong to the client's
// request, not to the calls.
constexpr std::string_view kCarriedFields[] = {"authorization", "x-forwarded-for",
                                               "x-forwarded-proto"};

bool is_json_type(std::string_view type) {
  auto semicolon = type.find(';');
  auto media = core::trim(type.substr(0, semicolon));
  return media.empty() || core::iequals(media, "application/json") ||
         (media.size() > 5 && core::iequals(media.substr(media.size() - 5), "+json"));
}

}  // namespace

// One call's request and answer, kept with the connection and reused request after request.
struct CallRun {
  RequestContext ctx;  // the call's own: its exchange, its record
  core::RequestHead head;
  std::string path, query;
  portico::proxy::EmptyBody body;
  CallWriter writer;
  CallState state = CallState::Waiting;
  boost::json::value json;  // the answer, when it is JSON
  bool is_json = false;
  bool timed_out = false;  // the aggregate's timeout or the call's own
  bool started = false;    // made this request (its context is this request's)
  std::string_view error;  // why it failed: in the 502's message
  std::string problem;     // a path that could not be filled
};

struct AggregateAction::Scratch {
  std::vector<std::unique_ptr<CallRun>> calls;
  std::vector<const boost::json::value*> answers;  // what call paths may read, by index
  std::optional<asio::steady_timer> wake;          // woken by every call that ends
  std::size_t running = 0;
  bool deadline_passed = false;  // the aggregate's timeout
  std::string out;               // the answer's body
  std::string message;           // the error body's message
};

AggregateAction::AggregateAction(AggregatePlan plan) : plan_(std::move(plan)) {}

// ---------------------------------------------------------------------------------------------
// The aggregate's life: start what can start, wait for a call to end, again, until every call
// has settled or the answer is decided (a required call failed, the timeout passed); then
// answer.

Task<Outcome> AggregateAction::run(RequestContext& ctx, ResponseWriter& writer) const {
  auto& s = ctx.scratch.get<Scratch>();
  auto& services = *ctx.services;
  if (!s.wake) s.wake.emplace(services.io);
  s.calls.resize(plan_.calls.size());
  s.answers.assign(plan_.calls.size(), nullptr);
  for (auto& call : s.calls) {
    if (!call) call = std::make_unique<CallRun>();
    call->state = CallState::Waiting;
    call->is_json = false;
    call->timed_out = false;
    call->started = false;
    call->error = {};
  }
  s.running = 0;
  s.deadline_passed = false;
  ctx.exchange.upstream = "aggregate";
  ctx.exchange.calls = static_cast<int>(plan_.calls.size());

  const auto started = std::chrono::steady_clock::now();
  const auto deadline = plan_.timeout ? asio::steady_timer::clock_type::now() + *plan_.timeout
                                      : asio::steady_timer::time_point::max();
  bool decided = false;
  for (;;) {
    if (!decided) {
      // A required call that failed decides the answer: what waits on it is cancelled.
      if (!required_failed(s)) start_ready(ctx, s);
      decided = required_failed(s);
      if (decided) abandon_running(s, false);
    }
    if (s.running == 0) break;
    s.wake->expires_at(decided ? asio::steady_timer::time_point::max() : deadline);
    auto [ec] = co_await s.wake->async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec && !decided && s.running > 0) {  // expired, not woken: the timeout has passed
      decided = true;
      s.deadline_passed = true;
      abandon_running(s, true);
    }
  }
  ctx.exchange.upstream_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  for (const auto& call : s.calls)
    if (call->started) ctx.exchange.retries += call->ctx.exchange.retries;

  // Every required call answered (a timeout may have stopped one, or cancelled one waiting).
  bool answered = true;
  for (std::size_t i = 0; i < plan_.calls.size(); ++i)
    answered = answered && (plan_.calls[i].optional || s.calls[i]->state == CallState::Answered);
  auto outcome = Outcome::Reply;
  if (answered)
    outcome = co_await answer(ctx, writer, s);
  else
    outcome = fail(ctx, s);
  // The answers are sent: what they hold goes, not kept with the connection for the next.
  for (auto& call : s.calls) {
    call->json = nullptr;
    call->ctx.identity = {};
    call->writer.reset(plan_.max_call_body);
  }
  if (s.out.capacity() > 64 * 1024) std::string().swap(s.out);
  co_return outcome;
}

bool AggregateAction::required_failed(const Scratch& s) const {
  for (std::size_t i = 0; i < plan_.calls.size(); ++i)
    if (!plan_.calls[i].optional && s.calls[i]->state == CallState::Failed) return true;
  return false;
}

// Starts every waiting call whose dependencies have all settled, or fails it when one of them
// failed or its path cannot be filled from their answers. It stops at the first required call
// that fails so: the answer is decided, and the calls after it are cancelled, not failed.
void AggregateAction::start_ready(RequestContext& ctx, Scratch& s) const {
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < plan_.calls.size(); ++i) {
      auto& call = *s.calls[i];
      const auto& plan = plan_.calls[i];
      if (call.state != CallState::Waiting) continue;
      bool ready = true, dependency_failed = false;
      for (auto d : plan.depends_on) {
        auto state = s.calls[d]->state;
        ready = ready && state != CallState::Waiting && state != CallState::Running;
        dependency_failed = dependency_failed || state == CallState::Failed;
      }
      if (!ready) continue;
      changed = true;
      if (dependency_failed) {
        call.state = CallState::Failed;
        call.error = "aggregate_dependency_failed";
        if (!plan.optional) return;
        continue;
      }
      if (!plan.path.fill(ctx, s.answers, call.path, call.query, call.problem)) {
        call.state = CallState::Failed;
        call.error = "aggregate_missing_field";
        if (!plan.optional) return;
        continue;
      }
      // The call's request: a GET of the filled path, as the client's request's child.
      auto& head = call.head;
      head.clear();
      head.method = "GET";
      head.path = call.path;
      head.raw_path = call.path;
      head.target = call.path;
      head.has_query = !call.query.empty();
      head.query = call.query;
      for (const auto& field : ctx.head->fields)
        for (auto carried : kCarriedFields)
          if (core::iequals(field.name, carried)) head.fields.push_back(field);
      auto& c = call.ctx;
      c.reset();
      c.head = &head;
      c.match = ctx.match;
      c.body = &call.body;
      c.route_name = ctx.route_name;
      c.client_ip = ctx.client_ip;
      c.peer_ip = ctx.peer_ip;
      c.peer_trusted = ctx.peer_trusted;
      c.request_id = ctx.request_id;
      c.request_id_header = ctx.request_id_header;
      c.tls = ctx.tls;
      c.client_cert_subject = ctx.client_cert_subject;
      c.services = ctx.services;
      c.metrics = ctx.metrics;
      c.identity = ctx.identity;
      c.upstream_edits = ctx.upstream_edits;  // the forwarded claims, the filters' edits
      c.background = ctx.background;
      call.writer.reset(plan_.max_call_body);
      call.state = CallState::Running;
      call.started = true;
      ++s.running;
      asio::co_spawn(ctx.services->io, run_call(s, i), asio::detached);
      if (required_failed(s)) return;  // it failed without waiting (breaker open, say)
    }
  }
}

Task<void> AggregateAction::run_call(Scratch& s, std::size_t index) const {
  auto& call = *s.calls[index];
  // However the call ends, the aggregate hears of it: it waits for every call it started.
  struct Ended {
    Scratch& s;
    ~Ended() {
      --s.running;
      s.wake->cancel();
    }
  } ended{s};
  auto outcome = Outcome::Broken;
  try {
    outcome = co_await plan_.calls[index].proxy->run(call.ctx, call.writer);
  } catch (...) {
    call.error = "aggregate_call_failed";
  }
  settle(s, index, outcome);
}

// What a call that ended counts as.
void AggregateAction::settle(Scratch& s, std::size_t index, Outcome outcome) const {
  auto& call = *s.calls[index];
  const auto& writer = call.writer;
  auto fail = [&](std::string_view why) {
    call.state = CallState::Failed;
    if (call.error.empty()) call.error = why;
  };
  if (call.ctx.abandoned) {
    // Whatever it ended with is not an answer: abandon_running said what it counts as.
    call.state = call.timed_out ? CallState::Failed : CallState::Cancelled;
  } else if (writer.too_large()) {
    fail("aggregate_call_too_large");
  } else if (outcome == Outcome::Reply) {
    call.timed_out = call.ctx.reply.status == 504;
    fail(call.ctx.reply.error_tag);
  } else if (outcome != Outcome::Answered) {
    fail(call.ctx.error_tag.empty() ? "upstream_body_incomplete" : call.ctx.error_tag);
  } else if (writer.status() / 100 != 2) {
    fail("aggregate_call_status");
  } else if (writer.encoded()) {
    fail("aggregate_call_encoded");  // compressed unasked: not text the answer can hold
  } else {
    boost::system::error_code ec;
    if (is_json_type(writer.content_type())) {
      boost::json::parse_options options;
      options.max_depth = 64;
      call.json = boost::json::parse(writer.body(), ec, {}, options);
      call.is_json = !ec;
    }
    if (!call.is_json && !core::is_utf8(writer.body())) {
      fail("aggregate_call_not_text");  // a JSON string cannot hold it
      return;
    }
    call.state = CallState::Answered;
    if (call.is_json) s.answers[index] = &call.json;
  }
}

// Stops the calls still running; when the timeout passed they count as failed by it, else
// (a required call failed) they are cancelled. Calls not started yet never will be.
void AggregateAction::abandon_running(Scratch& s, bool timed_out) const {
  for (std::size_t i = 0; i < plan_.calls.size(); ++i) {
    auto& call = *s.calls[i];
    if (call.state == CallState::Waiting) call.state = CallState::Cancelled;
    if (call.state != CallState::Running) continue;
    if (timed_out) {
      call.timed_out = true;
      call.error = "aggregate_timeout";
    }
    plan_.calls[i].proxy->abandon(call.ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// The answers.

// {"user": {...}, "orders": [...], "profile": null}: each call's JSON (only `fields` of an
// object), a non-JSON body as a string, null for a call that failed.
Task<Outcome> AggregateAction::answer(RequestContext& ctx, ResponseWriter& writer,
                                      Scratch& s) const {
  auto& out = s.out;
  out.clear();
  out += '{';
  bool complete = true;
  for (std::size_t i = 0; i < plan_.calls.size(); ++i) {
    const auto& plan = plan_.calls[i];
    const auto& call = *s.calls[i];
    if (i > 0) out += ',';
    out += '"';
    core::append_json_escaped(out, plan.name);
    out += "\":";
    if (call.state != CallState::Answered) {
      complete = false;
      out += "null";
    } else if (!call.is_json) {
      out += '"';
      core::append_json_escaped(out, call.writer.body());
      out += '"';
    } else if (!plan.fields.empty() && call.json.is_object()) {
      boost::json::object kept;
      const auto& object = call.json.get_object();
      for (const auto& name : plan.fields)
        if (const auto* member = object.if_contains(name)) kept.emplace(name, *member);
      out += boost::json::serialize(kept);
    } else {
      // Valid JSON as it came, so not written again; only the whitespace around it goes.
      std::string_view body = call.writer.body();
      auto first = body.find_first_not_of(" \t\r\n");
      auto last = body.find_last_not_of(" \t\r\n");
      out += body.substr(first, last - first + 1);
    }
  }
  out += '}';

  auto& head = ctx.response;
  head.status = 200;
  head.add("Content-Type", "application/json");
  head.add("X-Aggregate-Complete", complete ? "true" : "false");
  // A part its upstream said not to store makes the whole answer so (the cache filter and any
  // cache downstream read this).
  if (std::any_of(s.calls.begin(), s.calls.end(),
                  [](const auto& call) { return call->writer.uncacheable(); }))
    head.add("Cache-Control", "no-store");
  for (const auto& [name, value] : plan_.response_headers) head.set(name, value);
  head.content_length = out.size();
  writer.start(head);
  co_return co_await writer.write_all(out) ? Outcome::Answered : Outcome::Broken;
}

// A required call failed: 504 when a timeout did it, else 502, with the error body and the
// names of the calls that failed.
Outcome AggregateAction::fail(RequestContext& ctx, Scratch& s) const {
  bool timed_out = s.deadline_passed;
  std::string_view first;  // the first required call that failed
  std::size_t first_index = 0;
  std::string failed;
  for (std::size_t i = 0; i < plan_.calls.size(); ++i) {
    const auto& call = *s.calls[i];
    if (call.state != CallState::Failed) continue;
    if (!plan_.calls[i].optional) {
      timed_out = timed_out || call.timed_out;
      if (first.empty()) {
        first = plan_.calls[i].name;
        first_index = i;
      }
    }
    failed += failed.empty() ? "\"" : ",\"";
    core::append_json_escaped(failed, plan_.calls[i].name);
    failed += '"';
  }
  const int status = timed_out ? 504 : 502;
  s.message = timed_out ? "the aggregate timed out" : "a required call failed";
  if (!first.empty()) {
    s.message += ": " + std::string(first);
    const auto& call = *s.calls[first_index];
    if (!call.problem.empty() && call.error == "aggregate_missing_field")
      s.message += " (" + call.problem + ")";
    else if (!call.error.empty())
      s.message += " (" + std::string(call.error) + ")";
  }
  auto& reply = ctx.reply;
  reply.set_error(status, s.message, timed_out ? "aggregate_timeout" : "aggregate_call_failed");
  std::string body;
  core::append_error_body(body, status, reply.message, ctx.request_id);
  body.pop_back();  // the closing brace: "failed" goes in the same object
  body += ",\"failed\":[" + failed + "]}";
  reply.set_body(std::move(body), "application/json");
  reply.add_header("X-Aggregate-Complete", "false");
  return Outcome::Reply;
}

}  // namespace portico::actions::aggregate
