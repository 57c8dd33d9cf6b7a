// WebSocket: once the upstream answers an upgrade request with 101, the connection is a two-way
// byte relay. Nothing the client sent after the upgrade request reaches the upstream before
// that 101 (it waits in the client buffer), so a refused upgrade cannot smuggle a request.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "proxy/client_connection.h"

namespace portico::proxy {

namespace asio = boost::asio;
using namespace std::string_view_literals;

Task<bool> ClientConnection::ClientWriter::switch_protocols(
    core::ResponseHead& head, upstream::Exchange& upstream,
    std::chrono::milliseconds idle_timeout) {
  co_return co_await c_.relay_websocket(head, upstream, idle_timeout);
}

Task<bool> ClientConnection::relay_websocket(core::ResponseHead& head, upstream::Exchange& upstream,
                                             std::chrono::milliseconds idle_timeout) {
  status_ = ctx_.status = 101;
  head.set(runtime_->config->server.request_id_header, request_id_);
  out_.clear();
  out_ += "HTTP/1.1 101 Switching Protocols\r\n"sv;
  for (const auto& f : head.fields) {
    out_ += f.name;
    out_ += ": "sv;
    out_ += f.value;
    out_ += "\r\n"sv;
  }
  out_ += "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"sv;
  // Frames the upstream sent right behind its 101 go with it.
  auto& from_upstream = upstream.buffer();
  out_.append(from_upstream.read_ptr(), from_upstream.size());
  from_upstream.reset();

  deadline_.arm(socket_, idle_timeout);
  bool written = co_await write_to_client(asio::buffer(out_));
  deadline_.disarm();
  if (!written) co_return true;  // relayed nothing: the client is gone

  upgraded_ = true;
  websocket_upstream_ = &upstream;
  worker_.metrics().websocket_opened();
  last_websocket_activity_ = net::Clock::now();
  websocket_idle_timer_ = std::make_unique<asio::steady_timer>(worker_.io());
  {
    using namespace asio::experimental::awaitable_operators;
    co_await (pump_client_to_upstream(upstream) && pump_upstream_to_client(upstream) &&
              watch_websocket_idle(idle_timeout));
  }
  websocket_idle_timer_.reset();
  worker_.metrics().websocket_closed();
  upgraded_ = false;
  websocket_upstream_ = nullptr;
  co_return true;
}

void ClientConnection::end_websocket_relay() {
  // Each direction is parked in a read: cancelling both sockets ends them.
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  if (websocket_upstream_) websocket_upstream_->cancel();
  if (websocket_idle_timer_) websocket_idle_timer_->cancel();
}

Task<> ClientConnection::pump_client_to_upstream(upstream::Exchange& upstream) {
  auto& connection = upstream.connection();
  std::vector<asio::const_buffer> piece(1);
  // Bytes pipelined behind the upgrade request are the first frames.
  if (buffer_->size() > 0) {
    bytes_in_ += buffer_->size();
    piece[0] = asio::buffer(buffer_->read_ptr(), buffer_->size());
    auto [ec, n] = co_await connection.write(piece);
    if (ec) {
      end_websocket_relay();
      co_return;
    }
  }
  for (;;) {
    buffer_->reset();
    // One read, then one whole write before the next read: a slow reader holds back the
    // writer instead of growing a queue.
    auto [ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
    if (ec) break;
    last_websocket_activity_ = net::Clock::now();
    bytes_in_ += n;
    piece[0] = asio::buffer(buffer_->write_ptr(), n);
    auto [write_ec, written] = co_await connection.write(piece);
    if (write_ec) break;
  }
  buffer_->reset();
  end_websocket_relay();
}

Task<> ClientConnection::pump_upstream_to_client(upstream::Exchange& upstream) {
  auto& connection = upstream.connection();
  auto& buffer = upstream.buffer();
  for (;;) {
    buffer.reset();
    auto [ec, n] = co_await connection.read_some(asio::buffer(buffer.write_ptr(), buffer.space()));
    if (ec) break;
    last_websocket_activity_ = net::Clock::now();
    if (!co_await write_to_client(asio::buffer(buffer.write_ptr(), n))) break;
  }
  end_websocket_relay();
}

Task<> ClientConnection::watch_websocket_idle(std::chrono::milliseconds idle_timeout) {
  auto& timer = *websocket_idle_timer_;
  for (;;) {
    timer.expires_at(last_websocket_activity_ + idle_timeout);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // the relay ended
    if (net::Clock::now() - last_websocket_activity_ >= idle_timeout) break;
  }
  end_websocket_relay();
}

}  // namespace portico::proxy
