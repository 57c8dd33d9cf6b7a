#include "proxy/client_connection.h"

namespace portico::proxy {

ClientConnection::ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket)
    : worker_(worker),
      session_(worker),
      codec_(worker, std::move(socket), worker.runtime()->tls_server, session_) {
  worker_.add_connection(*this);
}

ClientConnection::~ClientConnection() {
  worker_.remove_connection();
}

}  // namespace portico::proxy
