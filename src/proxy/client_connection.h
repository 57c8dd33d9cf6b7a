// One client connection on a worker: the HTTP/1 codec (http1::ServerConnection) driving a
// Session (the request's phases). Registered with its worker so a drain can reach it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http1/server_connection.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace portico::proxy {

class ClientConnection final : public ConnectionHook, private RequestHandler {
 public:
  ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~ClientConnection();

  boost::asio::awaitable<void> run() { return codec_.run(); }
  void close_if_idle() { codec_.close_if_idle(); }          // drain: an idle connection closes
  void close_if_upgraded() { codec_.close_if_upgraded(); }  // end of a drain: a relay closes

 private:
  // The session exists while requests come: a quiet connection gives it back, so that 10,000
  // idle keep-alive connections hold little more than their sockets.
  boost::asio::awaitable<bool> serve(RequestStream& request) override;
  boost::asio::awaitable<bool> refuse(RequestStream& request, int status,
                                      std::string_view tag) override;
  void idle() override { session_.reset(); }
  Session& session();

  Worker& worker_;
  std::unique_ptr<Session> session_;
  http1::ServerConnection codec_;
};

}  // namespace portico::proxy
