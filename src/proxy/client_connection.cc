#include "proxy/client_connection.h"

#include <algorithm>

namespace portico::proxy {

ClientConnection::ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket)
    : worker_(worker),
      codec_(worker, std::move(socket), worker.runtime()->tls_server, *this, *this) {
  worker_.add_connection(*this);
}

ClientConnection::~ClientConnection() {
  worker_.remove_connection();
}

void ClientConnection::close_if_idle() {
  if (http2_)
    http2_->drain();
  else
    codec_.close_if_idle();
}

void ClientConnection::close_if_upgraded() {
  if (http2_)
    http2_->close_now();
  else
    codec_.close_if_upgraded();
}

Session& ClientConnection::session() {
  if (!session_) session_ = std::make_unique<Session>(worker_);
  return *session_;
}

boost::asio::awaitable<bool> ClientConnection::serve(RequestStream& request) {
  return session().serve(request);
}

boost::asio::awaitable<bool> ClientConnection::refuse(RequestStream& request, int status,
                                                      std::string_view tag) {
  return session().refuse(request, status, tag);
}

boost::asio::awaitable<void> ClientConnection::serve_http2(net::ByteStream& transport,
                                                           const ConnectionFacts& facts,
                                                           std::string_view early) {
  session_.reset();
  http2::SessionSource& sessions = *this;
  http2_ = std::make_unique<http2::ServerConnection>(worker_, transport, facts, sessions, early);
  // A drain that began before the preface came: this connection says GOAWAY at once.
  if (worker_.draining()) http2_->drain();
  co_await http2_->run();
  http2_.reset();
  spare_sessions_.clear();
}

RequestHandler& ClientConnection::acquire() {
  if (spare_sessions_.empty()) {
    busy_sessions_.push_back(std::make_unique<Session>(worker_));
  } else {
    busy_sessions_.push_back(std::move(spare_sessions_.back()));
    spare_sessions_.pop_back();
  }
  return *busy_sessions_.back();
}

void ClientConnection::release(RequestHandler& handler) {
  auto it = std::find_if(busy_sessions_.begin(), busy_sessions_.end(),
                         [&](const auto& s) { return s.get() == &handler; });
  if (it == busy_sessions_.end()) return;
  auto session = std::move(*it);
  *it = std::move(busy_sessions_.back());
  busy_sessions_.pop_back();
  // As many are kept as were busy at once, up to a handful: they hold per-request capacity.
  if (spare_sessions_.size() < 16) spare_sessions_.push_back(std::move(session));
}

}  // namespace portico::proxy
