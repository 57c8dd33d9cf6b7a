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
#include "net/buffer_pool.h"
#include "net/deadline.h"
#include "net/tls_server.h"
#include "proxy/filter.h"
#include "proxy/request_body.h"
#include "proxy/request_context.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"
#include "routing/router.h"
#include "upstream/exchange.h"

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

  // WebSocket (websocket.cc): after a 101 the connection is a two-way byte relay with the
  // upstream until either side closes or it is idle too long.
  Task<bool> relay_websocket(core::ResponseHead& head, upstream::Exchange& upstream,
                             std::chrono::milliseconds idle_timeout);
  Task<> pump_client_to_upstream(upstream::Exchange& upstream);
  Task<> pump_upstream_to_client(upstream::Exchange& upstream);
  Task<> watch_websocket_idle(std::chrono::milliseconds idle_timeout);
  void end_websocket_relay();

  void prepare_request_metadata();

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
    Task<bool> switch_protocols(core::ResponseHead& head, upstream::Exchange& upstream,
                                std::chrono::milliseconds idle_timeout) override;

   private:
    ClientConnection& c_;
    bool local_ = false;
    bool replaced_ = false;  // a filter's local reply stands in for the answer started
    bool head_pending_ = false;
    std::string_view reply_body_;  // the replacement's body
    BodyPieces filtered_;          // body pieces as the filters left them
  };

  // The codec side of a RequestBody: the request's body as the HTTP/1 parser yields it from
  // the client buffer.
  class ClientBody final : public RequestBody {
   public:
    explicit ClientBody(ClientConnection& connection) : c_(connection) {}
    BodyStatus take_buffered() override;
    Task<BodyStatus> read(bool keep) override;
    const http1::BodyPieces& pieces() const override { return c_.body_; }
    bool complete() const override { return c_.parser_->is_done(); }
    bool has_room() const override { return c_.buffer_->space() > 0; }
    bool chunked() const override { return c_.parser_->chunked(); }
    std::optional<std::uint64_t> length() const override;
    bool expects_continue() const override;
    Task<bool> send_continue() override;

   private:
    BodyStatus parse_buffered();
    ClientConnection& c_;
  };
  void log_request(const CompiledRoute* route);

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  // TLS over socket_ when the listener speaks it; the context it was made with lives as long.
  std::shared_ptr<net::TlsServerContext> tls_context_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  std::string tls_staging_;     // a gathered write: one TLS record instead of one per piece
  std::string client_subject_;  // the verified client certificate's subject, if any
  bool tls_closed_ = false;     // close_notify sent
  net::Deadline deadline_;      // guards socket_
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

  WorkerServices services_;
  ClientWriter writer_{*this};
  ClientBody request_body_{*this};
  upstream::Exchange* websocket_upstream_ = nullptr;  // while relaying
  http1::ResponseEncoder encoder_;
  std::string local_body_;  // the error body of a local reply
  std::string out_;         // what goes to the client next: heads, local bodies
  std::string joined_fields_;
  std::vector<boost::asio::const_buffer> iov_;

  boost::asio::ip::address peer_address_;
  std::string peer_ip_;
  std::string client_ip_;
  bool peer_trusted_ = false;  // the peer is one of server.trusted_proxies
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
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace portico::proxy
