// One downstream HTTP/1.1 connection: a coroutine that reads a request head, routes it, runs
// its action (proxy or respond), streams bodies both ways, logs, and loops for keep-alive and
// pipelined requests. Lives and dies on one worker.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/request_head.h"
#include "http1/body_pieces.h"
#include "http1/request_parser.h"
#include "http1/response_parser.h"
#include "net/buffer_pool.h"
#include "net/deadline.h"
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

 private:
  // How a request ended, for the connection loop.
  enum class After { KeepAlive, Close, Abort };

  Task<After> serve_request();
  Task<After> read_head();
  Task<After> reply_local(int status, std::string_view message, std::string_view error_tag,
                          std::string_view extra_headers = {});
  Task<After> respond_action(const CompiledRoute& route);
  Task<After> respond_health();
  bool is_exact_health_route(const routing::MatchResult& match) const;
  Task<After> proxy_action(const CompiledRoute& route, const routing::MatchResult& match);
  Task<After> finish_local_body(After after);
  Task<bool> write_all(boost::asio::ip::tcp::socket& socket);
  Task<> lingering_close();

  void prepare_request_metadata();
  void build_upstream_head(const CompiledRoute& route, const routing::MatchResult& match,
                           const TargetRuntime& target, bool chunked_body);
  void append_body_pieces(const http1::BodyPieces& body, bool chunked, bool last);
  void log_request(const CompiledRoute* route);

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
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
  http1::ResponseHead response_head_;
  http1::BodyPieces response_body_;
  std::optional<http1::ResponseParser> response_;

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

  // Per-request record for the access log and metrics.
  net::Clock::time_point started_{};
  int status_ = 0;
  std::string_view error_tag_;
  std::string_view upstream_name_;
  std::string_view target_key_;
  double upstream_ms_ = -1;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace portico::proxy
