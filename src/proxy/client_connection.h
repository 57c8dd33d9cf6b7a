// One downstream HTTP/1.1 connection: a coroutine that reads a request head, routes it, runs
// its action (proxy or respond), streams bodies both ways, logs, and loops for keep-alive and
// pipelined requests. Lives and dies on one worker.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/request_head.h"
#include "http1/body_pieces.h"
#include "http1/request_parser.h"
#include "http1/response_encoder.h"
#include "http1/response_parser.h"
#include "net/buffer_pool.h"
#include "net/deadline.h"
#include "net/tls_server.h"
#include "proxy/filter.h"
#include "proxy/request_context.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"
#include "routing/router.h"

namespace portico::proxy {

// Is `address` inside one of `networks` (server.trusted_proxies)?
bool is_trusted(const std::vector<config::Cidr>& networks, const boost::asio::ip::address& address);

template <class T = void>
using Task = boost::asio::awaitable<T>;

class ClientConnection : public ConnectionHook {
 public:
  ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~ClientConnection();

  Task<> run();
  // Drain: a connection waiting for its next request is closed now.
  void close_if_idle();
  // End of a drain: an upgraded (WebSocket) connection is closed now.
  void close_if_upgraded();

 private:
  // How a request ended, for the connection loop.
  enum class After { KeepAlive, Close, Abort };

  // How the wait for the next request on a keep-alive connection ended.
  enum class Wait { Ready, Cold, Close };
  Task<Wait> wait_hot();   // read at once into the buffer still held
  Task<bool> wait_cold();  // no buffer; wait for readiness up to idle_timeout
  void release_scratch();
  Task<After> serve_request();
  Task<After> serve_route(const CompiledRoute& route);
  Task<After> read_head();
  // The gateway's own answers, all through send_reply: ctx_.reply says what they are.
  Task<After> reply_local(int status, std::string_view message, std::string_view error_tag,
                          core::HeaderField extra = {});
  Task<After> send_reply();
  // Fills ctx_.response from `reply`; returns the body.
  std::string_view reply_head(const LocalReply& reply);
  // Runs the route's filters without suspending; Respond when one of them answered
  // (ctx_.reply), Wait when filter number `at` needs I/O: finish_filters goes on from there.
  Next run_filters(const CompiledRoute& route, std::size_t& at);
  Task<Next> finish_filters(const CompiledRoute& route, std::size_t at);
  void complete_filters();
  void match_preflight();
  Task<After> respond_health();
  // True when the request's body has been read in full (from what is buffered, if need be):
  // the connection can carry another request after the answer.
  bool settle_request_body();
  bool is_exact_health_route(const routing::MatchResult& match) const;
  // The proxy action and its phases (proxy_action.cc). A phase either lets the exchange go
  // on, asks for a retry on a fresh connection, or says how the gateway answers instead.
  enum class Step { Next, Retry, Answer, Abort };
  struct StepResult {
    Step step = Step::Next;
    int status = 0;
    std::string_view tag;      // the access log's `error`
    std::string_view message;  // the error body's message; empty: the status's default

    static StepResult next() { return {}; }
    static StepResult retry() { return {Step::Retry, 0, {}, {}}; }
    static StepResult fail(int status, std::string_view tag, std::string_view message = {}) {
      return {Step::Answer, status, tag, message};
    }
    static StepResult abort(int status, std::string_view tag) {
      return {Step::Abort, status, tag, {}};
    }
  };
  Task<After> proxy_action(const CompiledRoute& route, const routing::MatchResult& match);
  Task<After> proxy_attempts(const CompiledRoute& route, const routing::MatchResult& match);
  // Records the outcome of the attempt just made; true when it is to be retried.
  bool decide_retry(const UpstreamRuntime& upstream);
  // One attempt on the target in exchange_: open (or reuse) a connection, send the request,
  // read the response head. Next when the head is in.
  Task<StepResult> attempt(const CompiledRoute& route, const routing::MatchResult& match,
                           bool replayable);
  static std::optional<upstream::AttemptFailure> failure_kind(std::string_view tag);
  // Reads the rest of the request body into the client buffer while it fits there.
  Task<StepResult> keep_body_for_replay();
  // One read of request body bytes from the client, parsed into body_ (added to the pieces
  // already there when `keep_pieces`).
  Task<StepResult> read_request_body(bool keep_pieces);
  Task<After> refuse_circuit_open(std::chrono::seconds retry_after);
  Task<> sleep_for(std::chrono::microseconds duration);
  std::uint64_t balancing_hash(const UpstreamRuntime& upstream);
  Task<StepResult> open_connection();
  Task<StepResult> start_tls();  // over the connection just opened to an https:// target
  Task<StepResult> send_request(const CompiledRoute& route, const routing::MatchResult& match,
                                bool can_retry);
  Task<StepResult> stream_request_body();
  Task<StepResult> read_response_head(bool can_retry);
  Task<After> relay_response(const CompiledRoute& route);
  Task<After> answer(const StepResult& result);
  void start_response_parser();
  void prepare_response_head(const CompiledRoute& route, bool bodyless,
                             boost::optional<std::uint64_t> length);
  void end_exchange(bool reuse);
  Task<bool> write_all(boost::asio::ip::tcp::socket& socket);
  Task<> lingering_close();
  Task<> send_close_notify(std::chrono::milliseconds wait);
  // The TLS handshake of a connection to a TLS listener; false when it failed.
  Task<bool> handshake();
  // One read from the client, through TLS when the listener speaks it.
  template <class MutableBuffer>
  auto read_some(const MutableBuffer& buffer) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    return tls_ ? tls_->async_read_some(buffer, token) : socket_.async_read_some(buffer, token);
  }
  // Writes all of `bytes` to the client (not through iov_: the WebSocket relay writes while
  // the other direction is busy).
  Task<bool> write_to_client(boost::asio::const_buffer bytes);

  // WebSocket (websocket.cc): the upgrade request is relayed like any other; a 101 turns the
  // connection into a two-way byte relay until either side closes or it is idle too long.
  Task<After> relay_websocket(const CompiledRoute& route);
  Task<> pump_client_to_upstream();
  Task<> pump_upstream_to_client();
  Task<> watch_websocket_idle(config::Duration idle_timeout);
  void end_websocket_relay();
  // The value a rewrite placeholder that is not a path param stands for ({consumer},
  // {jwt.CLAIM}, {client_cert.subject}); nullopt for a path param.
  std::optional<std::string_view> identity_placeholder(std::string_view name) const;

  // Whether the route's filters set or removed this field of the upstream copy.
  bool edited_by_filters(std::string_view name) const;
  void prepare_request_metadata();
  void build_upstream_head(const CompiledRoute& route, const routing::MatchResult& match,
                           const TargetRuntime& target, bool chunked_body);
  void append_body_pieces(const http1::BodyPieces& body, bool chunked, bool last);

  // The codec side of a ResponseWriter: the route's response filters (on_response, on_body),
  // then HTTP/1 bytes to the client.
  class ClientWriter final : public ResponseWriter {
   public:
    explicit ClientWriter(ClientConnection& connection) : c_(connection) {}
    // A new answer; `local`: the gateway's own, which on_response cannot replace again.
    void begin(bool local) {
      local_ = local;
      replaced_ = head_pending_ = false;
    }
    void start(core::ResponseHead& head) override;
    Task<bool> write(const BodyPieces& body, bool last) override;

   private:
    ClientConnection& c_;
    bool local_ = false;
    bool replaced_ = false;  // a filter's local reply stands in for the answer started
    bool head_pending_ = false;
    std::string_view reply_body_;  // the replacement's body
    BodyPieces filtered_;          // body pieces as the filters left them
  };
  void log_request(const CompiledRoute* route);

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  // TLS over socket_ when the listener speaks it; the context it was made with lives as long.
  std::shared_ptr<net::TlsServerContext> tls_context_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  std::string tls_staging_;          // a gathered write: one TLS record instead of one per piece
  std::string client_subject_;       // the verified client certificate's subject, if any
  bool tls_closed_ = false;          // close_notify sent
  net::Deadline deadline_;           // guards socket_
  net::Deadline upstream_deadline_;  // guards the upstream connection of the current exchange
  std::unique_ptr<net::Buffer> buffer_;
  std::shared_ptr<const Runtime> runtime_;

  core::RequestHead head_;
  std::string method_;  // owned copies of the request line; head_ views them
  std::string target_;
  http1::BodyPieces body_;
  std::optional<http1::RequestParser> parser_;

  // Per-request state lives here rather than in coroutine frames: small frames are recycled
  // by Asio's per-thread cache, large ones cost a malloc per request.
  routing::MatchResult match_;
  const CompiledRoute* route_ = nullptr;  // the matched route, once known
  RequestContext ctx_;
  core::ResponseHead& response_head_ = ctx_.response;  // the upstream's, as parsed
  http1::BodyPieces response_body_;
  std::optional<http1::ResponseParser> response_;

  // The upstream side of the current proxy exchange.
  struct Exchange {
    const UpstreamRuntime* upstream = nullptr;
    const TargetRuntime* target = nullptr;
    upstream::ConnectionPool* pool = nullptr;
    std::unique_ptr<upstream::UpstreamConnection> connection;
    std::unique_ptr<net::Buffer> buffer;  // what the upstream sent, not yet relayed
    config::Duration request_timeout{};
    bool chunked_body = false;  // the request body goes upstream chunked
    bool reused = false;        // the connection came from the pool
    // The attempts of the current request (proxy_attempts).
    struct Attempts {
      upstream::CircuitBreaker::Admission admission{.allowed = true};
      std::optional<upstream::RetryBudget::ActiveRetry> retry_slot;
      StepResult result;
      net::Clock::time_point started{};
      std::uint64_t key_hash = 0;
      std::size_t index = 0;
      std::size_t avoid = upstream::no_target;
      bool replayable = false;
      bool may_retry = false;
      bool success = false;
      void reset(const upstream::CircuitBreaker::Admission& admitted) {
        admission = admitted;
        retry_slot.reset();
        result = {};
        avoid = upstream::no_target;
        success = false;
      }
    } attempts;
  };
  Exchange exchange_;

  WorkerServices services_;
  ClientWriter writer_{*this};
  http1::ResponseEncoder encoder_;
  std::string local_body_;     // the error body of a local reply
  std::string out_;            // what goes to the client next: heads, local bodies
  std::string upstream_head_;  // what goes upstream next
  std::string joined_fields_;
  std::vector<boost::asio::const_buffer> iov_;
  char chunk_prefix_[24] = {};  // the chunk-size line referenced by iov_

  boost::asio::ip::address peer_address_;
  std::string peer_ip_;
  std::string client_ip_;
  std::string request_id_;
  bool idle_ = false;
  bool close_after_ = false;
  bool upgrade_ = false;   // the request asks for `Upgrade: websocket`
  bool upgraded_ = false;  // the connection relays WebSocket bytes now
  net::Clock::time_point last_websocket_activity_{};
  std::unique_ptr<boost::asio::steady_timer> websocket_idle_timer_;

  // Per-request record for the access log and metrics.
  net::Clock::time_point started_{};
  int status_ = 0;
  std::string_view error_tag_;
  std::string_view upstream_name_;
  std::string_view target_key_;
  double upstream_ms_ = -1;
  int retries_ = 0;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace portico::proxy
