#include "stores/redis/redis_connection.h"

#include <array>
#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "core/log.h"
#include "net/tls_client.h"
#include "stores/redis/redis_command.h"

namespace portico::stores::redis {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

// One TCP (and TLS) connection's life. Whatever completes after the session was closed finds
// `closed` set and leaves the connection, which may already have a new session, alone.
struct RedisConnection::Session {
  explicit Session(asio::any_io_executor executor) : socket(executor), resolver(executor) {}

  auto read_some(asio::mutable_buffer into) {
    return tls ? tls->async_read_some(into, use_tuple) : socket.async_read_some(into, use_tuple);
  }
  auto write(asio::const_buffer bytes) {
    return tls ? asio::async_write(*tls, bytes, use_tuple)
               : asio::async_write(socket, bytes, use_tuple);
  }
  void close() {
    closed = true;
    resolver.cancel();
    error_code ignored;
    socket.close(ignored);
  }

  tcp::socket socket;
  tcp::resolver resolver;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  ReplyReader reader;
  std::array<char, 16 * 1024> buffer;
  std::string writing;  // owned here so that a write still in flight never sees a reused buffer
  bool write_in_flight = false;
  bool closed = false;
};

RedisConnection::RedisConnection(asio::any_io_executor executor, RedisEndpoint endpoint,
                                 std::shared_ptr<ssl::context> tls)
    : executor_(executor), endpoint_(std::move(endpoint)), tls_(std::move(tls)), timer_(executor) {}

RedisConnection::~RedisConnection() {
  if (session_) session_->close();
}

asio::awaitable<CallResult> RedisConnection::call(std::string_view command,
                                                  Clock::time_point deadline, int skip) {
  auto now = Clock::now();
  if (now >= deadline) co_return CallResult{CallError::Timeout, {}};
  // Backing off after a failed connect: fail without waiting, so that callers (a rate limit)
  // fall back at once instead of each spending its whole timeout on a server that is down.
  if (state_ == State::Disconnected && now < retry_at_)
    co_return CallResult{CallError::Connection, {}};
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(CallResult)>(
      [this, command, deadline, skip](auto handler) {
        enqueue(command, deadline, skip, std::move(handler));
      },
      asio::use_awaitable);
}

void RedisConnection::enqueue(std::string_view command, Clock::time_point deadline, int skip,
                              asio::any_completion_handler<void(CallResult)> handler) {
  outbox_.append(command);
  pending_.push_back(Pending{deadline, skip, std::move(handler)});
  watch(deadline);
  switch (state_) {
    case State::Disconnected:
      state_ = State::Connecting;
      session_ = std::make_shared<Session>(executor_);
      asio::co_spawn(executor_, connect(shared_from_this(), session_), asio::detached);
      break;
    case State::Connecting:
      break;
    case State::Connected:
      start_write();
      break;
  }
}

asio::awaitable<void> RedisConnection::connect(std::shared_ptr<RedisConnection> self,
                                               std::shared_ptr<Session> session) {
  const RedisEndpoint& endpoint = self->endpoint_;
  auto fail = [&](const std::string& why) {
    if (session->closed) return;  // the deadline or close() ended it first
    core::log_warn("redis " + endpoint.address() + ": " + why);
    self->retry_at_ = Clock::now() + self->backoff_;
    self->backoff_ = std::min(self->backoff_ * 2, max_backoff);
    self->fail_all(CallError::Connection);
  };

  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  auto address = asio::ip::make_address(endpoint.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, endpoint.port);
  } else {
    // Asio resolves on a thread of its own: the worker does not block on getaddrinfo.
    auto [resolve_ec, results] = co_await session->resolver.async_resolve(
        endpoint.host, std::to_string(endpoint.port), use_tuple);
    if (resolve_ec) co_return fail("cannot resolve " + endpoint.host + ": " + resolve_ec.message());
    for (const auto& result : results) endpoints.push_back(result.endpoint());
  }
  if (session->closed) co_return;
  auto [connect_ec, peer] = co_await asio::async_connect(session->socket, endpoints, use_tuple);
  if (connect_ec) co_return fail("connect failed: " + connect_ec.message());
  if (session->closed) co_return;
  session->socket.set_option(tcp::no_delay(true), ec);

  if (endpoint.tls) {
    session->tls = std::make_unique<ssl::stream<tcp::socket&>>(session->socket, *self->tls_);
    if (!net::prepare_tls_client(session->tls->native_handle(), endpoint.host, true))
      co_return fail("bad TLS server name " + endpoint.host);
    auto [handshake_ec] =
        co_await session->tls->async_handshake(ssl::stream_base::client, use_tuple);
    if (handshake_ec) co_return fail("TLS handshake failed: " + handshake_ec.message());
    if (session->closed) co_return;
  }

  // AUTH and SELECT come before anything queued, and a refusal fails the connect: commands
  // sent without them would act on the wrong database or fail one by one with NOAUTH.
  std::string login;
  int expected = 0;
  if (!endpoint.password.empty()) {
    if (endpoint.user.empty()) {
      append_command(login, {"AUTH", endpoint.password});
    } else {
      append_command(login, {"AUTH", endpoint.user, endpoint.password});
    }
    ++expected;
  }
  if (endpoint.db != 0) {
    append_command(login, {"SELECT", std::to_string(endpoint.db)});
    ++expected;
  }
  if (expected > 0) {
    auto [write_ec, written] = co_await session->write(asio::buffer(login));
    if (write_ec) co_return fail("write failed: " + write_ec.message());
    for (int got = 0; got < expected && !session->closed;) {
      RedisReply reply;
      auto next = session->reader.next(reply);
      if (next == ReplyReader::Next::Reply) {
        if (reply.is_error()) co_return fail("login refused: " + reply.text);
        ++got;
        continue;
      }
      if (next == ReplyReader::Next::Malformed)
        co_return fail("bad reply: " + session->reader.error());
      auto [read_ec, n] = co_await session->read_some(asio::buffer(session->buffer));
      if (read_ec) co_return fail("read failed: " + read_ec.message());
      session->reader.feed({session->buffer.data(), n});
    }
    if (session->closed) co_return;
  }

  self->state_ = State::Connected;
  self->backoff_ = first_backoff;
  asio::co_spawn(self->executor_, read_loop(self, session), asio::detached);
  self->start_write();
}

asio::awaitable<void> RedisConnection::read_loop(std::shared_ptr<RedisConnection> self,
                                                 std::shared_ptr<Session> session) {
  for (;;) {
    RedisReply reply;
    ReplyReader::Next next;
    while ((next = session->reader.next(reply)) == ReplyReader::Next::Reply) {
      if (self->pending_.empty()) {
        core::log_warn("redis " + self->endpoint_.address() + ": a reply nobody asked for");
        co_return self->fail_all(CallError::Protocol);
      }
      Pending& front = self->pending_.front();
      if (front.skip > 0) {
        --front.skip;
        continue;
      }
      Pending done = std::move(front);
      self->pending_.pop_front();
      self->complete(done, CallResult{CallError::None, std::move(reply)});
      reply = {};
    }
    if (next == ReplyReader::Next::Malformed) {
      core::log_warn("redis " + self->endpoint_.address() + ": " + session->reader.error());
      co_return self->fail_all(CallError::Protocol);
    }
    auto [ec, n] = co_await session->read_some(asio::buffer(session->buffer));
    if (session->closed) co_return;
    if (ec) co_return self->fail_all(CallError::Connection);
    session->reader.feed({session->buffer.data(), n});
  }
}

void RedisConnection::start_write() {
  auto session = session_;
  if (session->write_in_flight || outbox_.empty()) return;
  session->writing.clear();
  session->writing.swap(outbox_);
  session->write_in_flight = true;
  auto done = [self = shared_from_this(), session](error_code ec, std::size_t) {
    session->write_in_flight = false;
    if (session->closed) return;
    if (ec) return self->fail_all(CallError::Connection);
    self->start_write();  // what was queued meanwhile, in one write
  };
  if (session->tls) {
    asio::async_write(*session->tls, asio::buffer(session->writing), std::move(done));
  } else {
    asio::async_write(session->socket, asio::buffer(session->writing), std::move(done));
  }
}

// The timer is armed at the earliest deadline it knows of; pushing a later one costs nothing.
void RedisConnection::watch(Clock::time_point deadline) {
  if (timer_armed_ && timer_at_ <= deadline) return;
  timer_armed_ = true;
  timer_at_ = deadline;
  timer_.expires_at(deadline);  // a wait in progress ends with operation_aborted
  timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    self->on_timer();
  });
}

void RedisConnection::on_timer() {
  timer_armed_ = false;
  if (pending_.empty()) return;
  auto now = Clock::now();
  auto earliest = Clock::time_point::max();
  for (const auto& pending : pending_) {
    if (pending.deadline <= now) {
      // A reply still owed to this caller would later be read as the next caller's: the
      // connection cannot be trusted any more.
      bool was_connecting = state_ == State::Connecting;
      fail_all(CallError::Connection, CallError::Timeout);
      if (was_connecting) {
        retry_at_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, max_backoff);
      }
      return;
    }
    earliest = std::min(earliest, pending.deadline);
  }
  watch(earliest);
}

void RedisConnection::fail_all(CallError error, CallError expired) {
  if (session_) {
    session_->close();
    session_.reset();
  }
  state_ = State::Disconnected;
  outbox_.clear();
  auto now = Clock::now();
  auto failed = std::move(pending_);
  pending_.clear();
  for (auto& pending : failed)
    complete(pending, CallResult{pending.deadline <= now ? expired : error, {}});
}

void RedisConnection::complete(Pending& pending, CallResult result) {
  // Posted, not called: the caller resumes on its own turn, never inside this connection's
  // read loop or timer handler, which go on touching the connection afterwards.
  asio::post(executor_, asio::append(std::move(pending.handler), std::move(result)));
}

void RedisConnection::close() {
  timer_.cancel();
  timer_armed_ = false;
  retry_at_ = {};
  fail_all(CallError::Connection, CallError::Connection);
}

}  // namespace portico::stores::redis
