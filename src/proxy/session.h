// The life of one request, codec-neutral, in phases that read top to bottom in session.cc:
// prepare (request id, forwarded headers, path) -> route -> request filters -> action ->
// response filters (between the action and the codec) -> complete (on_complete, access log,
// metrics). One Session per client connection, reused request after request; the codec
// (http1::ServerConnection now, HTTP/2 streams later) drives it through RequestHandler.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/response_head.h"
#include "net/deadline.h"
#include "observability/access_log.h"
#include "proxy/filter.h"
#include "proxy/request_context.h"
#include "proxy/request_stream.h"
#include "proxy/runtime.h"
#include "routing/router.h"

namespace portico::proxy {

template <class T = void>
using Task = boost::asio::awaitable<T>;

// Is `address` inside one of `networks` (server.trusted_proxies)?
bool is_trusted(const std::vector<config::Cidr>& networks, const boost::asio::ip::address& address);

// What a session uses of the worker it runs on.
class SessionEnvironment {
 public:
  virtual ~SessionEnvironment() = default;
  virtual const std::shared_ptr<const Runtime>& runtime() const = 0;
  virtual WorkerServices& services() = 0;
  virtual void new_request_id(std::string& out) = 0;
  virtual observability::AccessLogBuffer* access_log() = 0;
};

class Session final : public RequestHandler {
 public:
  explicit Session(SessionEnvironment& env);

  Task<bool> serve(RequestStream& request) override;
  Task<bool> refuse(RequestStream& request, int status, std::string_view tag) override;
  void idle() override;

  const RequestContext& context() const { return ctx_; }  // for tests

 private:
  // Phases.
  void prepare();
  bool normalize_path(std::string_view& problem);
  const CompiledRoute* route();  // null: the gateway answers itself (reply_ is set)
  Task<bool> run_route(const CompiledRoute& route);
  Next run_filters(const CompiledRoute& route, std::size_t& at);
  Task<Next> finish_filters(const CompiledRoute& route, std::size_t at);
  void complete(const CompiledRoute* route);

  void begin(RequestStream& request);
  void match_preflight();
  bool is_exact_health_route() const;
  // The gateway's own answers: ctx_.reply through the response filters and the codec.
  void set_reply(int status, std::string_view message, std::string_view tag,
                 core::HeaderField extra = {});
  // `replaceable`: the action's reply, which a response filter may answer instead of.
  Task<bool> send_reply(bool replaceable = false);
  std::string_view reply_head(const LocalReply& reply);  // fills ctx_.response; the body
  void log(const CompiledRoute* route);

  // The route's response filters between an action and the codec: the request id, on_response
  // (which may replace an upstream's answer), on_body.
  class FilteredWriter final : public ResponseWriter {
   public:
    explicit FilteredWriter(Session& session) : s_(session) {}
    // A new answer; `local`: the gateway's own, which on_response cannot replace again.
    void begin(bool local) {
      local_ = local;
      replaced_ = replacement_sent_ = false;
    }
    void start(core::ResponseHead& head) override;
    Task<bool> write(const BodyPieces& body, bool last) override;
    // A replacement goes out with the first write; after it nothing more is wanted.
    bool wants_body() const override { return !replacement_sent_; }
    Task<bool> switch_protocols(core::ResponseHead& head, net::ByteStream& upstream,
                                std::chrono::milliseconds idle_timeout) override;

   private:
    void stamp(core::ResponseHead& head);  // the request id, the status for the log
    Session& s_;
    bool local_ = false;
    bool replaced_ = false;  // a filter's local reply stands in for the answer started
    bool replacement_sent_ = false;
    std::string_view reply_body_;  // the replacement's body
    BodyPieces filtered_;          // body pieces as the filters left them
  };

  SessionEnvironment& env_;
  std::shared_ptr<const Runtime> runtime_;
  RequestStream* stream_ = nullptr;  // the request being served
  core::RequestHead* head_ = nullptr;
  // Per-request state lives here rather than in coroutine frames: small frames are recycled
  // by Asio's per-thread cache, large ones cost a malloc per request.
  RequestContext ctx_;
  routing::MatchResult match_;
  const CompiledRoute* route_ = nullptr;
  FilteredWriter writer_{*this};
  std::string request_id_;
  std::string client_ip_;
  std::string joined_fields_;
  std::string local_body_;  // the error body of a local reply
  bool peer_trusted_ = false;
  net::Clock::time_point started_{};
  int status_ = 0;
  std::string_view error_tag_;
};

}  // namespace portico::proxy
