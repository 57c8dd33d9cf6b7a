#include "proxy/client_connection.h"

namespace portico::proxy {

ClientConnection::ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket)
    : worker_(worker), codec_(worker, std::move(socket), worker.runtime()->tls_server, *this) {
  worker_.add_connection(*this);
}

ClientConnection::~ClientConnection() {
  worker_.remove_connection();
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

}  // namespace portico::proxy
