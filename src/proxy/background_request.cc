#include "proxy/background_request.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "proxy/action.h"
#include "proxy/request_body.h"
#include "proxy/runtime.h"

namespace portico::proxy {

namespace asio = boost::asio;

namespace {

// Where the answer goes: through the route's response filters, and no further.
class FiltersOnlyWriter final : public ResponseWriter {
 public:
  FiltersOnlyWriter(const CompiledRoute& route, RequestContext& ctx) : route_(route), ctx_(ctx) {}
  void start(core::ResponseHead& head) override {
    ctx_.status = head.status;
    for (const auto& filter : route_.filters) filter->on_response(ctx_, head);
  }
  asio::awaitable<bool> write(const BodyPieces& body, bool last) override {
    pieces_ = body;
    BodyChunk chunk{pieces_, last};
    for (const auto& filter : route_.filters) filter->on_body(ctx_, chunk);
    co_return true;
  }
  asio::awaitable<bool> switch_protocols(core::ResponseHead&, net::ByteStream&,
                                         std::chrono::milliseconds) override {
    co_return false;
  }

 private:
  const CompiledRoute& route_;
  RequestContext& ctx_;
  BodyPieces pieces_;
};

struct BackgroundRequest {
  std::shared_ptr<const Runtime> runtime;
  const CompiledRoute* route = nullptr;
  std::string bytes;  // what every view of `head` points into
  std::string client_ip;
  std::string request_id;
  std::string client_cert_subject;
  core::RequestHead head;
  routing::MatchResult match;
  EmptyBody body;  // the copy is of a GET or HEAD
  RequestContext ctx;
  std::unique_ptr<FiltersOnlyWriter> writer;
};

asio::awaitable<void> run(std::unique_ptr<BackgroundRequest> request) {
  auto& r = *request;
  try {
    auto outcome = co_await r.route->action->run(r.ctx, *r.writer);
    if (outcome == Outcome::Reply && r.ctx.status == 0) r.ctx.status = r.ctx.reply.status;
  } catch (const std::exception&) {
    // Nobody is waiting for this answer; what matters is that on_complete still runs (a
    // filter may hold a lock for it).
  }
  for (const auto& filter : r.route->filters) filter->on_complete(r.ctx);
}

}  // namespace

void run_in_background(const std::shared_ptr<const Runtime>& runtime, const CompiledRoute& route,
                       const RequestContext& ctx, WorkerServices& services) {
  auto r = std::make_unique<BackgroundRequest>();
  r->runtime = runtime;
  r->route = &route;
  const auto& from = *ctx.head;
  std::size_t total = from.method.size() + from.target.size();
  for (const auto& f : from.fields) total += f.name.size() + f.value.size();
  r->bytes.reserve(total);
  auto keep = [&](std::string_view s) {
    auto at = r->bytes.size();
    r->bytes.append(s);
    return std::string_view(r->bytes).substr(at, s.size());
  };
  auto& head = r->head;
  head.method = keep(from.method);
  head.target = keep(from.target);
  head.raw_path = head.target.substr(0, from.raw_path.size());
  head.has_query = from.has_query;
  if (from.has_query) head.query = head.target.substr(head.target.size() - from.query.size());
  head.path = from.path;
  head.version = from.version;
  for (const auto& f : from.fields) head.fields.push_back({keep(f.name), keep(f.value)});
  r->match = runtime->router->match(head);
  r->client_ip = ctx.client_ip;
  r->request_id = ctx.request_id;
  r->client_cert_subject = ctx.client_cert_subject;

  auto& c = r->ctx;
  c.head = &r->head;
  c.match = &r->match;
  c.body = &r->body;
  c.route_name = route.name;
  c.client_ip = r->client_ip;
  c.peer_ip = r->client_ip;
  c.peer_trusted = ctx.peer_trusted;
  c.request_id = r->request_id;
  c.request_id_header = ctx.request_id_header;
  c.tls = ctx.tls;
  c.client_cert_subject = r->client_cert_subject;
  c.services = &services;
  c.metrics = &services.metrics;
  c.identity = ctx.identity;  // its views live in the identity's owner and the runtime
  c.background = true;
  // The request that asked was answered by a filter, so the upstream edits of its route's
  // filters (forwarded claims, the cache's own) were never made: they are made for the copy.
  for (const auto& filter : route.filters) filter->on_upstream_request(c);
  r->writer = std::make_unique<FiltersOnlyWriter>(route, c);
  asio::co_spawn(services.io, run(std::move(r)), asio::detached);
}

}  // namespace portico::proxy
