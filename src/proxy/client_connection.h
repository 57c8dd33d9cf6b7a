// One client connection on a worker: the HTTP/1 codec (http1::ServerConnection) driving a
// Session (the request's phases), or, when the connection speaks HTTP/2, the HTTP/2 codec
// driving one Session per stream. Registered with its worker so a drain can reach it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <vector>

#include "http1/server_connection.h"
#include "http2/server_connection.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace portico::proxy {

class ClientConnection final : public ConnectionHook,
                               private RequestHandler,
                               private http1::Http2Handoff,
                               private http2::SessionSource {
 public:
  ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~ClientConnection();

  boost::asio::awaitable<void> run() { return codec_.run(); }
  void close_if_idle();      // drain: an idle connection closes, an HTTP/2 one says GOAWAY
  void close_if_upgraded();  // end of a drain: a relay or an HTTP/2 connection closes

 private:
  // The session exists while requests come: a quiet connection gives it back, so that 10,000
  // idle keep-alive connections hold little more than their sockets.
  boost::asio::awaitable<bool> serve(RequestStream& request) override;
  boost::asio::awaitable<bool> refuse(RequestStream& request, int status,
                                      std::string_view tag) override;
  void idle() override { session_.reset(); }
  Session& session();

  boost::asio::awaitable<void> serve_http2(net::ByteStream& transport,
                                           const ConnectionFacts& facts,
                                           std::string_view early) override;
  // HTTP/2: a session per stream open at once, reused by the streams after it.
  RequestHandler& acquire() override;
  void release(RequestHandler& handler) override;

  Worker& worker_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<http2::ServerConnection> http2_;
  std::vector<std::unique_ptr<Session>> spare_sessions_;
  std::vector<std::unique_ptr<Session>> busy_sessions_;
  http1::ServerConnection codec_;
};

}  // namespace portico::proxy
