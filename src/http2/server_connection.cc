#include "http2/server_connection.h"

#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/ascii.h"
#include "observability/metrics.h"

namespace portico::http2 {

namespace asio = boost::asio;
using proxy::BodyStatus;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
static_assert(observability::http2_goaway_reasons.size() ==
              static_cast<std::size_t>(EndReason::Drain) + 1);

namespace {

// A response body waits for the client's window once this much of it is queued.
constexpr std::size_t kQueuedBodyHigh = 256 * 1024;
constexpr std::size_t kQueuedBodyLow = 64 * 1024;
// A body held whole for replay (retries) may grow to this, as an HTTP/1 one to its buffer.
constexpr std::size_t kKeptBodyBytes = 64 * 1024;
constexpr std::size_t kSpareStreams = 32;
// After the connection's end was decided, its last frames get this long to leave.
constexpr std::int64_t kFlushMs = 1000;

std::int64_t ms_of(std::chrono::milliseconds d) {
  return d.count();
}

}  // namespace

// One stream: the request as the session sees it (head, body, writer) and its two queues, the
// body received and not yet handed on, and the answer queued and not yet framed.
class ServerConnection::Stream final : public StreamBase,
                                       public proxy::RequestStream,
                                       public proxy::RequestBody,
                                       public proxy::ResponseWriter {
 public:
  explicit Stream(ServerConnection& c) : c_(c), body_ready_(c.env_.io()), room_(c.env_.io()) {}

  void recycle() {
    reset_base();
    inbox_.clear();
    taken_.clear();
    pieces_.clear();
    outbox_.clear();
    out_at_ = 0;
    received_ = bytes_out_ = 0;
    pending_head_ = nullptr;
    running = closed = out_done = eof_sent = deferred = discard = head_only = false;
    refusal_status = 0;
    refusal_tag = {};
  }
  bool gone() const { return closed || c_.closing_; }
  void wake() {
    body_ready_.cancel();
    room_.cancel();
  }
  std::size_t queued() const { return outbox_.size() - out_at_; }

  // RequestStream
  core::RequestHead& head() override { return request; }
  proxy::RequestBody& body() override { return *this; }
  proxy::ResponseWriter& writer() override { return *this; }
  const proxy::ConnectionFacts& connection() const override { return c_.facts_; }
  void close_after() override {}  // a stream is one request: nothing after it to protect
  std::uint64_t bytes_in() const override { return received_bytes; }
  std::uint64_t bytes_out() const override { return bytes_out_; }

  // RequestBody
  BodyStatus take_buffered() override {
    taken_.clear();
    hand_on(false);
    return status();
  }
  Task<BodyStatus> read(bool keep) override {
    if (!keep) {
      taken_.clear();
      pieces_.clear();
    }
    while (inbox_.empty() && !remote_closed && !gone()) {
      body_ready_.expires_after(c_.env_.limits().idle_timeout);
      auto [ec] = co_await body_ready_.async_wait(use_tuple);
      if (!ec) co_return BodyStatus::ClientGone;  // nothing came for idle_timeout
    }
    if (inbox_.empty() && gone()) co_return BodyStatus::ClientGone;
    hand_on(keep);
    co_return status();
  }
  const core::BodyPieces& pieces() const override { return pieces_; }
  bool complete() const override { return remote_closed && inbox_.empty(); }
  bool has_room() const override { return taken_.size() < kKeptBodyBytes; }
  bool chunked() const override { return !length().has_value(); }
  std::optional<std::uint64_t> length() const override {
    auto text = request.find("content-length");
    std::uint64_t n = 0;
    if (!text.empty() &&
        std::from_chars(text.data(), text.data() + text.size(), n).ec == std::errc())
      return n;
    if (body_ended_with_head) return 0;
    return std::nullopt;
  }
  bool expects_continue() const override {
    return core::iequals(request.find("expect"), "100-continue") && !remote_closed;
  }
  Task<bool> send_continue() override {
    if (gone() || !c_.codec_->submit_continue(*this)) co_return false;
    c_.wake_writer();
    co_return true;
  }

  // ResponseWriter
  void start(core::ResponseHead& head) override { pending_head_ = &head; }
  Task<bool> write(const core::BodyPieces& body, bool last) override {
    if (gone()) co_return false;
    if (pending_head_) {
      head_only = request.method == "HEAD";
      bool has_body = !(last && body.bytes == 0);
      if (!c_.codec_->submit_response(*this, *pending_head_, has_body, head_only))
        co_return false;
      for (const auto& field : pending_head_->fields)
        bytes_out_ += field.name.size() + field.value.size() + 4;
      pending_head_ = nullptr;
      if (!has_body || head_only) eof_sent = true;  // END_STREAM rides on HEADERS
      c_.wake_writer();
    }
    if (last) out_done = true;
    if (head_only) co_return true;
    for (auto piece : body.pieces) outbox_.append(piece);
    bytes_out_ += body.bytes;
    if (deferred && (queued() > 0 || out_done)) {
      deferred = false;
      c_.codec_->resume(*this);
    }
    c_.wake_writer();
    // The client's window is shut, or it reads slowly: stop taking from the action (and so
    // from the upstream) until the queue has drained.
    while (queued() > kQueuedBodyHigh && !gone()) {
      room_.expires_after(c_.env_.limits().idle_timeout);
      auto [ec] = co_await room_.async_wait(use_tuple);
      if (!ec) co_return false;
    }
    co_return !gone();
  }
  Task<bool> switch_protocols(core::ResponseHead&, net::ByteStream&,
                              std::chrono::milliseconds) override {
    co_return false;  // no WebSocket over HTTP/2 (RFC 8441 is not offered)
  }

  // What the codec's data source takes: queued body bytes into nghttp2's frame buffer.
  long take_body(std::uint8_t* buffer, std::size_t size, bool& eof) {
    std::size_t n = std::min(size, queued());
    if (n > 0) std::memcpy(buffer, outbox_.data() + out_at_, n);
    out_at_ += n;
    if (out_at_ == outbox_.size()) {
      outbox_.clear();
      out_at_ = 0;
    } else if (out_at_ >= kQueuedBodyLow && out_at_ * 2 >= outbox_.size()) {
      outbox_.erase(0, out_at_);
      out_at_ = 0;
    }
    if (queued() <= kQueuedBodyLow) room_.cancel();
    if (queued() == 0 && out_done) {
      eof = eof_sent = true;
      return static_cast<long>(n);
    }
    if (n == 0) {
      deferred = true;
      return -1;
    }
    return static_cast<long>(n);
  }
  // DATA received.
  void take_data(const std::uint8_t* data, std::size_t size) {
    received_ += size;
    if (discard) {
      c_.codec_->consume(*this, size);
      return;
    }
    inbox_.append(reinterpret_cast<const char*>(data), size);
    body_ready_.cancel();
  }
  // The session stopped reading: what comes from now on is thrown away.
  void stop_reading() {
    discard = true;
    c_.codec_->consume(*this, inbox_.size());
    inbox_.clear();
    inbox_.shrink_to_fit();
  }

  bool running = false;
  bool closed = false;     // nghttp2 forgot it
  bool out_done = false;   // the action wrote its last piece
  bool eof_sent = false;   // END_STREAM framed
  bool deferred = false;   // nghttp2 waits for resume()
  bool discard = false;    // body bytes no longer wanted
  bool head_only = false;  // a HEAD request: the answer has no body
  bool body_ended_with_head = false;
  int refusal_status = 0;  // answered by RequestHandler::refuse instead of serve
  std::string_view refusal_tag;

 private:
  // The bytes received so far go to the session; the client may send as many again.
  void hand_on(bool keep) {
    auto n = inbox_.size();
    if (keep)
      taken_.append(inbox_);
    else
      taken_.swap(inbox_);
    inbox_.clear();
    pieces_.clear();
    pieces_.add(taken_);
    if (n > 0) {
      c_.codec_->consume(*this, n);
      c_.wake_writer();
    }
  }
  BodyStatus status() const {
    return received_ > c_.env_.limits().max_body_bytes ? BodyStatus::TooLarge : BodyStatus::Ok;
  }

  ServerConnection& c_;
  std::string inbox_;  // received, not yet handed on
  std::string taken_;  // handed on: what pieces_ views
  core::BodyPieces pieces_;
  std::uint64_t received_ = 0;
  std::string outbox_;  // the answer's body, queued for DATA frames
  std::size_t out_at_ = 0;
  std::uint64_t bytes_out_ = 0;
  core::ResponseHead* pending_head_ = nullptr;
  asio::steady_timer body_ready_;
  asio::steady_timer room_;
};

ServerConnection::ServerConnection(http1::ServerEnvironment& env, net::ByteStream& transport,
                                   const proxy::ConnectionFacts& facts, SessionSource& sessions,
                                   std::string_view early)
    : env_(env),
      transport_(transport),
      facts_(facts),
      sessions_(sessions),
      early_(early),
      writer_wake_(env.io()),
      watchdog_wake_(env.io()),
      tasks_done_(env.io()) {}

ServerConnection::~ServerConnection() {
  codec_.reset();  // before the streams its session points at
  if (buffer_) env_.buffers().release(std::move(buffer_));
}

std::int64_t ServerConnection::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// The connection's life: read until the client or the codec ends it, then let every stream and
// the last frames finish.

Task<> ServerConnection::run() {
  const auto& h2 = env_.http2();
  CodecSettings settings;
  settings.max_concurrent_streams = static_cast<std::uint32_t>(h2.max_concurrent_streams);
  settings.initial_window = static_cast<std::uint32_t>(h2.initial_window);
  settings.max_header_bytes = env_.limits().max_header_bytes;
  codec_.emplace(settings, static_cast<Codec::Events&>(*this));
  quiet_since_ms_ = now_ms();
  spawn(write_loop());
  spawn(watchdog());
  co_await read_loop();
  closing_ = true;
  closing_since_ms_ = now_ms();
  for (auto& stream : live_) stream->wake();
  wake_writer();
  wake_watchdog();
  while (tasks_ > 0) {
    tasks_done_.expires_at(asio::steady_timer::time_point::max());
    co_await tasks_done_.async_wait(use_tuple);
  }
}

void ServerConnection::spawn(Task<> task) {
  ++tasks_;
  asio::co_spawn(env_.io(), std::move(task), [this](const std::exception_ptr&) {
    if (--tasks_ == 0) tasks_done_.cancel();
  });
}

Task<> ServerConnection::read_loop() {
  if (!early_.empty()) {
    bool go_on = feed(reinterpret_cast<const std::uint8_t*>(early_.data()), early_.size());
    early_.clear();
    early_.shrink_to_fit();
    if (!go_on) co_return;
  }
  buffer_ = env_.buffers().acquire();
  while (!closing_) {
    auto [ec, n] = co_await transport_.read_some(asio::buffer(buffer_->data, buffer_->capacity));
    if (ec || n == 0) break;
    if (!feed(reinterpret_cast<const std::uint8_t*>(buffer_->data), n)) break;
  }
}

bool ServerConnection::feed(const std::uint8_t* data, std::size_t size) {
  bool go_on = codec_->receive(data, size, now_ms());
  if (codec_->in_header_block()) {
    if (header_block_since_ms_ == 0) {
      header_block_since_ms_ = now_ms();
      wake_watchdog();
    }
  } else {
    header_block_since_ms_ = 0;
  }
  // Streams whose heads came start now, out of nghttp2's callbacks: a session may answer at
  // once, and the codec is not to be re-entered from inside itself.
  auto starting = std::move(starting_);
  starting_.clear();
  for (auto* stream : starting) spawn(run_stream(*stream));
  starting_ = std::move(starting);
  starting_.clear();
  wake_writer();
  if (!go_on) {
    note_end(codec_->end_reason());
    return false;
  }
  return !codec_->finished();
}

Task<> ServerConnection::write_loop() {
  for (;;) {
    out_.clear();
    bool alive = codec_->pending_output(out_);
    if (alive && !reset_after_send_.empty()) {
      // Answered in full before the client finished its body: the rest is not wanted, said
      // with RST_STREAM(NO_ERROR) once END_STREAM has been framed (RFC 9113 8.1).
      std::erase_if(reset_after_send_, [&](Stream* stream) {
        if (!stream->eof_sent) return false;
        codec_->reset(*stream, NGHTTP2_NO_ERROR);
        return true;
      });
      alive = codec_->pending_output(out_);
    }
    if (out_.empty()) {
      if (!alive || closing_ || codec_->finished()) break;
      writer_waiting_ = true;
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await writer_wake_.async_wait(use_tuple);
      writer_waiting_ = false;
      continue;
    }
    writing_ = true;
    write_since_ms_ = now_ms();
    auto [ec, n] = co_await transport_.write(asio::buffer(out_));
    writing_ = false;
    if (ec) {
      closing_ = true;
      break;
    }
  }
  // Nothing more will be said: end the read too.
  writer_done_ = true;
  transport_.cancel();
  wake_watchdog();
}

void ServerConnection::wake_writer() {
  if (writer_waiting_) writer_wake_.cancel();
}

void ServerConnection::wake_watchdog() {
  watchdog_wake_.cancel();
}

// The timeouts: a header block left open, a connection with no streams, a write the client
// does not take, and the last frames' flush once the end is decided.
Task<> ServerConnection::watchdog() {
  const auto& limits = env_.limits();
  const auto idle = ms_of(std::chrono::duration_cast<std::chrono::milliseconds>(limits.idle_timeout));
  const auto header =
      ms_of(std::chrono::duration_cast<std::chrono::milliseconds>(limits.header_timeout));
  while (!writer_done_) {
    auto now = now_ms();
    if (closing_) {
      if (now >= closing_since_ms_ + kFlushMs) {
        transport_.cancel();
        break;
      }
    } else if (header_block_since_ms_ != 0 && now >= header_block_since_ms_ + header) {
      codec_->terminate(EndReason::HeaderTimeout, NGHTTP2_ENHANCE_YOUR_CALM);
      note_end(EndReason::HeaderTimeout);
      closing_ = true;
      closing_since_ms_ = now;
      for (auto& stream : live_) stream->wake();
      wake_writer();
      continue;
    } else if (writing_ && now >= write_since_ms_ + idle) {
      closing_ = true;  // the client does not read
      closing_since_ms_ = now;
      transport_.cancel();
      continue;
    } else if (live_.empty() && !codec_->goaway_sent() && now >= quiet_since_ms_ + idle) {
      codec_->go_away(EndReason::IdleTimeout, false);
      note_end(EndReason::IdleTimeout);
      wake_writer();
    }
    std::int64_t next = now + idle;
    if (closing_) next = closing_since_ms_ + kFlushMs;
    if (header_block_since_ms_ != 0) next = std::min(next, header_block_since_ms_ + header);
    if (live_.empty() && !codec_->goaway_sent()) next = std::min(next, quiet_since_ms_ + idle);
    if (writing_) next = std::min(next, write_since_ms_ + idle);
    watchdog_wake_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(1, next - now)));
    co_await watchdog_wake_.async_wait(use_tuple);
  }
}

void ServerConnection::note_end(EndReason reason) {
  if (ended_counted_ || reason == EndReason::None) return;
  ended_counted_ = true;
  env_.metrics().http2_goaway(static_cast<std::size_t>(reason));
}

void ServerConnection::drain() {
  if (!codec_ || closing_) return;
  codec_->go_away(EndReason::Drain, false);
  note_end(EndReason::Drain);
  wake_writer();
}

void ServerConnection::close_now() {
  closing_ = true;
  closing_since_ms_ = now_ms();
  for (auto& stream : live_) stream->wake();
  transport_.cancel();
  wake_writer();
  wake_watchdog();
}

// ---------------------------------------------------------------------------------------------
// Streams.

Task<> ServerConnection::run_stream(Stream& stream) {
  auto& handler = sessions_.acquire();
  bool ok = false;
  try {
    if (stream.refusal_status != 0)
      ok = co_await handler.refuse(stream, stream.refusal_status, stream.refusal_tag);
    else
      ok = co_await handler.serve(stream);
  } catch (const std::exception&) {
    ok = false;
  }
  sessions_.release(handler);
  end_stream(stream, ok);
}

void ServerConnection::end_stream(Stream& stream, bool ok) {
  stream.running = false;
  if (stream.closed) {
    free_stream(stream);
    return;
  }
  if (!ok || !stream.response_started || !stream.out_done) {
    codec_->reset(stream, NGHTTP2_INTERNAL_ERROR);
  } else {
    codec_->answered();
    if (!stream.remote_closed) {
      stream.stop_reading();
      reset_after_send_.push_back(&stream);
    }
  }
  wake_writer();
}

StreamBase* ServerConnection::open_stream(std::int32_t) {
  if (closing_) return nullptr;
  std::unique_ptr<Stream> stream;
  if (!spares_.empty()) {
    stream = std::move(spares_.back());
    spares_.pop_back();
  } else {
    stream = std::make_unique<Stream>(*this);
  }
  live_.push_back(std::move(stream));
  return live_.back().get();
}

void ServerConnection::on_request(StreamBase& base, bool end_stream) {
  auto& stream = static_cast<Stream&>(base);
  env_.metrics().http2_stream();
  stream.body_ended_with_head = end_stream;
  auto length = stream.length();
  if (length && *length > env_.limits().max_body_bytes) {
    stream.refusal_status = 413;
    stream.refusal_tag = "body_too_large";
  }
  stream.running = true;
  starting_.push_back(&stream);
}

void ServerConnection::on_data(StreamBase& base, const std::uint8_t* data, std::size_t size) {
  static_cast<Stream&>(base).take_data(data, size);
}

void ServerConnection::on_remote_end(StreamBase& base) {
  static_cast<Stream&>(base).wake();
}

void ServerConnection::on_closed(StreamBase& base, std::uint32_t) {
  auto& stream = static_cast<Stream&>(base);
  stream.closed = true;
  stream.stop_reading();  // what it held counts against the connection's window no more
  std::erase(reset_after_send_, &stream);
  stream.wake();
  if (!stream.running) free_stream(stream);
}

long ServerConnection::read_body(StreamBase& base, std::uint8_t* buffer, std::size_t size,
                                 bool& eof) {
  return static_cast<Stream&>(base).take_body(buffer, size, eof);
}

void ServerConnection::free_stream(Stream& stream) {
  auto it = std::find_if(live_.begin(), live_.end(), [&](const auto& s) { return s.get() == &stream; });
  if (it == live_.end()) return;
  auto owned = std::move(*it);
  *it = std::move(live_.back());
  live_.pop_back();
  // The watchdog sleeps no longer than idle_timeout, so it sees the quiet in time unwoken.
  if (live_.empty()) quiet_since_ms_ = now_ms();
  if (spares_.size() < kSpareStreams) {
    owned->recycle();
    spares_.push_back(std::move(owned));
  }
}

}  // namespace portico::http2
