// After the upstream answers a WebSocket upgrade with 101, the connection is a two-way byte
// relay. Nothing the client sent after the upgrade request reaches the upstream before that
// 101 (it waits in the client buffer), so a refused upgrade cannot smuggle a request.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "http1/server_connection.h"

namespace portico::http1 {

namespace asio = boost::asio;
using namespace std::string_view_literals;

Task<bool> ServerConnection::Writer::switch_protocols(core::ResponseHead& head,
                                                      net::ByteStream& upstream,
                                                      std::chrono::milliseconds idle_timeout) {
  co_return co_await c_.relay(head, upstream, idle_timeout);
}

Task<bool> ServerConnection::relay(core::ResponseHead& head, net::ByteStream& upstream,
                                   std::chrono::milliseconds idle_timeout) {
  rq_->out.clear();
  rq_->out += "HTTP/1.1 101 Switching Protocols\r\n"sv;
  for (const auto& f : head.fields) {
    rq_->out += f.name;
    rq_->out += ": "sv;
    rq_->out += f.value;
    rq_->out += "\r\n"sv;
  }
  rq_->out += "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"sv;
  // Frames the upstream sent right behind its 101 go with it.
  rq_->out += upstream.take_early_bytes();

  deadline_.arm(socket_, idle_timeout);
  bool written = co_await write_to_client(asio::buffer(rq_->out));
  deadline_.disarm();
  if (!written) co_return true;  // relayed nothing: the client is gone

  upgraded_ = true;
  relay_peer_ = &upstream;
  env_.metrics().websocket_opened();
  last_relay_activity_ = net::Clock::now();
  relay_idle_timer_ = std::make_unique<asio::steady_timer>(env_.io());
  {
    using namespace asio::experimental::awaitable_operators;
    co_await (pump_client_to_upstream(upstream) && pump_upstream_to_client(upstream) &&
              watch_idle(idle_timeout));
  }
  relay_idle_timer_.reset();
  env_.metrics().websocket_closed();
  upgraded_ = false;
  relay_peer_ = nullptr;
  co_return true;
}

void ServerConnection::end_relay() {
  // Each direction is parked in a read: cancelling both sockets ends them.
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  if (relay_peer_) relay_peer_->cancel();
  if (relay_idle_timer_) relay_idle_timer_->cancel();
}

Task<> ServerConnection::pump_client_to_upstream(net::ByteStream& upstream) {
  // Bytes pipelined behind the upgrade request are the first frames.
  if (buffer_->size() > 0) {
    bytes_in_ += buffer_->size();
    auto [ec, n] = co_await upstream.write(asio::buffer(buffer_->read_ptr(), buffer_->size()));
    if (ec) {
      end_relay();
      co_return;
    }
  }
  for (;;) {
    buffer_->reset();
    // One read, then one whole write before the next read: a slow reader holds back the
    // writer instead of growing a queue.
    auto [ec, n] = co_await read_some(asio::buffer(buffer_->write_ptr(), buffer_->space()));
    if (ec) break;
    last_relay_activity_ = net::Clock::now();
    bytes_in_ += n;
    auto [write_ec, written] = co_await upstream.write(asio::buffer(buffer_->write_ptr(), n));
    if (write_ec) break;
  }
  buffer_->reset();
  end_relay();
}

Task<> ServerConnection::pump_upstream_to_client(net::ByteStream& upstream) {
  auto space = upstream.scratch();
  for (;;) {
    auto [ec, n] = co_await upstream.read_some(space);
    if (ec) break;
    last_relay_activity_ = net::Clock::now();
    if (!co_await write_to_client(asio::buffer(space.data(), n))) break;
  }
  end_relay();
}

Task<> ServerConnection::watch_idle(std::chrono::milliseconds idle_timeout) {
  auto& timer = *relay_idle_timer_;
  for (;;) {
    timer.expires_at(last_relay_activity_ + idle_timeout);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // the relay ended
    if (net::Clock::now() - last_relay_activity_ >= idle_timeout) break;
  }
  end_relay();
}

}  // namespace portico::http1
