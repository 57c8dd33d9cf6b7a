// The server side of one HTTP/2 connection (h2 over TLS, or h2c after the preface), driven on
// the worker's io_context: one coroutine reads and feeds the codec, one writes what it
// produces, a watchdog keeps the timeouts, and each stream is one request through its own
// session (a RequestHandler), as an HTTP/1 request is. Flow control follows the session: a
// stream's window opens as its body is handed on, and a response waits for the client's
// window before it takes more from its action. Knows nothing of routes, filters or upstreams.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http1/server_connection.h"
#include "http2/codec.h"
#include "net/byte_stream.h"
#include "proxy/request_stream.h"

namespace portico::http2 {

template <class T = void>
using Task = boost::asio::awaitable<T>;

// Where streams get the session that serves them.
class SessionSource {
 public:
  virtual ~SessionSource() = default;
  virtual proxy::RequestHandler& acquire() = 0;
  virtual void release(proxy::RequestHandler& handler) = 0;
};

class ServerConnection final : private Codec::Events {
 public:
  // `transport`: the connection's bytes (TLS or TCP), which must outlive this; `early`: bytes
  // already read from it (the preface on h2c).
  ServerConnection(http1::ServerEnvironment& env, net::ByteStream& transport,
                   const proxy::ConnectionFacts& facts, SessionSource& sessions,
                   std::string_view early);
  ~ServerConnection() override;

  Task<> run();
  // Drain: GOAWAY now; open streams finish, then the connection closes.
  void drain();
  void close_now();  // the end of a drain: whatever is left is cut

 private:
  class Stream;

  // Codec::Events
  StreamBase* open_stream(std::int32_t id) override;
  void on_request(StreamBase& stream, bool end_stream) override;
  void on_data(StreamBase& stream, const std::uint8_t* data, std::size_t size) override;
  void on_remote_end(StreamBase& stream) override;
  void on_closed(StreamBase& stream, std::uint32_t error_code) override;
  long read_body(StreamBase& stream, std::uint8_t* buffer, std::size_t size, bool& eof) override;

  Task<> read_loop();
  Task<> write_loop();
  Task<> watchdog();
  Task<> run_stream(Stream& stream);
  void spawn(Task<> task);  // counted: the connection ends only when every task has
  void wake_writer();
  void wake_watchdog();
  void end_stream(Stream& stream, bool ok);  // its coroutine is done: answered or reset
  void free_stream(Stream& stream);
  bool feed(const std::uint8_t* data, std::size_t size);
  void note_end(EndReason reason);  // counts the reason the connection ends for, once
  std::int64_t now_ms() const;

  http1::ServerEnvironment& env_;
  net::ByteStream& transport_;
  proxy::ConnectionFacts facts_;
  SessionSource& sessions_;
  std::string early_;
  std::optional<Codec> codec_;
  std::unique_ptr<net::Buffer> buffer_;

  std::vector<std::unique_ptr<Stream>> live_;    // streams nghttp2 or a coroutine still holds
  std::vector<std::unique_ptr<Stream>> spares_;  // finished streams kept for reuse
  std::vector<Stream*> starting_;                // heads complete, coroutines not yet spawned
  std::vector<Stream*> reset_after_send_;        // answered before their body ended
  std::size_t tasks_ = 0;
  bool closing_ = false;  // no more reading: the client left, or the codec ended
  std::int64_t closing_since_ms_ = 0;
  bool ended_counted_ = false;
  std::string out_;
  bool writing_ = false;
  bool writer_waiting_ = false;
  bool writer_done_ = false;
  std::int64_t write_since_ms_ = 0;
  std::int64_t header_block_since_ms_ = 0;
  std::int64_t quiet_since_ms_ = 0;  // when the last stream finished (idle timeout)
  boost::asio::steady_timer writer_wake_;
  boost::asio::steady_timer watchdog_wake_;
  boost::asio::steady_timer tasks_done_;
};

}  // namespace portico::http2
