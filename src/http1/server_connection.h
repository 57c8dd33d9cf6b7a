// The server side of one HTTP/1.x connection, over plain TCP or TLS: the TLS handshake, reading
// and parsing request heads, keep-alive and pipelining, body framing both ways (Content-Length,
// chunked, 100-continue), the limits, lingering close, close_notify, and the byte relay after a
// switch of protocols. It hands each request to a RequestHandler (the session) as a
// codec-neutral RequestStream and knows nothing of routes, filters or upstreams.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/body_pieces.h"
#include "core/request_head.h"
#include "http1/request_parser.h"
#include "http1/response_encoder.h"
#include "net/buffer_pool.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "net/tls_server.h"
#include "net/tls_stream.h"
#include "observability/metrics.h"
#include "proxy/request_stream.h"

namespace portico::http1 {

template <class T = void>
using Task = boost::asio::awaitable<T>;

// What a connection uses of the worker it runs on.
class ServerEnvironment {
 public:
  virtual ~ServerEnvironment() = default;
  virtual const config::Limits& limits() const = 0;  // of the current config
  virtual const config::Http2Config& http2() const = 0;
  virtual net::BufferPool& buffers() = 0;
  virtual net::DeadlineList& deadlines() = 0;
  virtual boost::asio::io_context& io() = 0;
  virtual observability::MetricsShard& metrics() = 0;
  virtual bool draining() const = 0;
};

// Where a connection goes when it turns out to speak HTTP/2 (ALPN h2, or the h2c preface).
class Http2Handoff {
 public:
  virtual ~Http2Handoff() = default;
  // Serves the connection as HTTP/2 over `transport` until it ends; `early`: bytes already
  // read (the preface, and whatever followed it).
  virtual Task<> serve_http2(net::ByteStream& transport, const proxy::ConnectionFacts& facts,
                             std::string_view early) = 0;
};

class ServerConnection final : private proxy::RequestStream {
 public:
  // `tls`: the listener's TLS, or null for plain HTTP. `http2`: where HTTP/2 connections go.
  ServerConnection(ServerEnvironment& env, boost::asio::ip::tcp::socket socket,
                   std::shared_ptr<net::TlsServerContext> tls, proxy::RequestHandler& handler,
                   Http2Handoff& http2);
  ~ServerConnection() override;

  Task<> run();
  void close_if_idle();      // drain: a connection waiting for its next request closes now
  void close_if_upgraded();  // end of a drain: a switched (WebSocket) connection closes now
  const proxy::ConnectionFacts& facts() const { return facts_; }

 private:
  enum class After { KeepAlive, Close, Abort, Http2 };  // how a request ended
  enum class Wait { Ready, Cold, Close };        // how the wait for the next one ended

  // RequestStream
  core::RequestHead& head() override { return rq_->head; }
  proxy::RequestBody& body() override { return body_source_; }
  proxy::ResponseWriter& writer() override { return writer_; }
  const proxy::ConnectionFacts& connection() const override { return facts_; }
  void close_after() override { close_after_ = true; }
  std::uint64_t bytes_in() const override { return bytes_in_; }
  std::uint64_t bytes_out() const override { return bytes_out_; }

  Task<bool> handshake();  // the TLS handshake; false when it failed
  // On a plain connection's first request: does it open with the HTTP/2 preface? Reads until
  // the bytes say (Close: the client went away or stalled).
  Task<After> sniff_preface();
  Task<> serve_http2();
  Task<Wait> wait_hot();   // read at once into the buffer still held
  // Going cold: no buffer, no scratch, the idle deadline armed; waking: false when the wait
  // ended without a request (idle_timeout, drain, the client closed).
  void go_quiet();
  bool wake(bool ready, char first);
  void release_scratch();
  Task<After> serve_request();
  // Reads the head; when it cannot be read, rq_->refusal says how to answer.
  Task<After> read_head();
  // True when the request's body has been read in full (from what is buffered, if need be):
  // the connection can carry another request after the answer.
  bool settle_request_body();
  void start_parser();  // a fresh parser for the next request head, with the limits
  void own_head();      // the head's views move from the read buffer to a copy of their own
  Task<> lingering_close();
  Task<> send_close_notify(std::chrono::milliseconds wait);
  template <class MutableBuffer>
  auto read_some(const MutableBuffer& buffer) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    return tls_ ? tls_->read_some(buffer) : socket_.async_read_some(buffer, token);
  }
  Task<bool> write_iov();  // iov_, gathered into one TLS record over TLS
  Task<bool> write_to_client(boost::asio::const_buffer bytes);

  // After a 101 (websocket_relay.cc): a two-way byte relay until either side closes or both
  // are silent for the idle timeout.
  Task<bool> relay(core::ResponseHead& head, net::ByteStream& upstream,
                   std::chrono::milliseconds idle_timeout);
  Task<> pump_client_to_upstream(net::ByteStream& upstream);
  Task<> pump_upstream_to_client(net::ByteStream& upstream);
  Task<> watch_idle(std::chrono::milliseconds idle_timeout);
  void end_relay();

  // The connection's bytes for the HTTP/2 codec.
  class Transport final : public net::ByteStream {
   public:
    explicit Transport(ServerConnection& connection) : c_(connection) {}
    Task<std::tuple<boost::system::error_code, std::size_t>> read_some(
        boost::asio::mutable_buffer buffer) override;
    Task<std::tuple<boost::system::error_code, std::size_t>> write(
        boost::asio::const_buffer bytes) override;
    void cancel() override;
    std::string_view take_early_bytes() override { return {}; }
    boost::asio::mutable_buffer scratch() override { return {}; }

   private:
    ServerConnection& c_;
  };

  class Writer final : public proxy::ResponseWriter {
   public:
    explicit Writer(ServerConnection& connection) : c_(connection) {}
    void start(core::ResponseHead& head) override;
    Task<bool> write(const core::BodyPieces& body, bool last) override;
    Task<bool> switch_protocols(core::ResponseHead& head, net::ByteStream& upstream,
                                std::chrono::milliseconds idle_timeout) override;

   private:
    ServerConnection& c_;
    bool head_pending_ = false;
  };

  class Body final : public proxy::RequestBody {
   public:
    explicit Body(ServerConnection& connection) : c_(connection) {}
    proxy::BodyStatus take_buffered() override;
    Task<proxy::BodyStatus> read(bool keep) override;
    const core::BodyPieces& pieces() const override { return c_.rq_->body; }
    bool complete() const override { return c_.rq_->parser->is_done(); }
    bool has_room() const override { return c_.buffer_->space() > 0; }
    bool chunked() const override { return c_.rq_->parser->chunked(); }
    std::optional<std::uint64_t> length() const override;
    bool expects_continue() const override;
    Task<bool> send_continue() override;

   private:
    proxy::BodyStatus parse_buffered();
    ServerConnection& c_;
  };

  ServerEnvironment& env_;
  proxy::RequestHandler& handler_;
  Http2Handoff& http2_;
  boost::asio::ip::tcp::socket socket_;
  // TLS over socket_ when the listener speaks it; the context it was made with lives as long.
  std::shared_ptr<net::TlsServerContext> tls_context_;
  std::unique_ptr<net::TlsStream> tls_;
  bool tls_closed_ = false;  // close_notify sent
  proxy::ConnectionFacts facts_;
  net::Deadline deadline_;  // guards socket_
  std::unique_ptr<net::Buffer> buffer_;

  // What a request needs, made when one comes and given back when the connection goes quiet:
  // 10,000 idle keep-alive connections should cost little more than their sockets.
  struct Refusal {
    int status = 0;
    std::string_view tag;
  };
  struct RequestState {
    core::RequestHead head;       // views into head_copy once the head is read
    std::string_view head_bytes;  // where the head was in the read buffer
    std::string head_copy;
    core::BodyPieces body;
    std::optional<RequestParser> parser;
    Refusal refusal;  // how to answer a head that could not be read
    ResponseEncoder encoder;
    std::string out;  // the head going to the client next
    std::vector<boost::asio::const_buffer> iov;
    std::string tls_staging;  // a gathered write: one TLS record instead of one per piece
  };
  std::unique_ptr<RequestState> rq_;
  Writer writer_{*this};
  Body body_source_{*this};

  bool idle_ = false;
  bool first_request_ = true;
  bool close_after_ = false;
  bool upgraded_ = false;  // the connection relays bytes of another protocol now
  bool upgraded_to_h2_ = false;
  net::ByteStream* relay_peer_ = nullptr;
  net::Clock::time_point last_relay_activity_{};
  std::unique_ptr<boost::asio::steady_timer> relay_idle_timer_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace portico::http1
