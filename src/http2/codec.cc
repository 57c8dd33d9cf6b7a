#include "http2/codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>

namespace portico::http2 {

namespace {

// Resets beyond the answers a connection has had before its resets count as an attack
// (CVE-2023-44487): a browser cancelling what it no longer needs stays far below this.
constexpr std::uint64_t kResetAllowance = 100;
// SETTINGS, PING, PRIORITY and empty DATA frames: a bucket of this many, refilled per second.
// Clients send a handful at the start and a PING now and then.
constexpr double kControlBurst = 200;
constexpr double kControlPerSecond = 20;
// Control frames (PING and SETTINGS ACKs, RST_STREAM) nghttp2 may hold for a client that does
// not read before the connection is ended as a flood.
constexpr std::size_t kMaxOutboundControl = 1000;

bool is_connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te";
}

}  // namespace

void StreamBase::reset_base() {
  id = 0;
  request.clear();
  authority.clear();
  header_bytes = received_bytes = 0;
  remote_closed = trailers = response_started = false;
  storage_.clear();
  fields_at_.clear();
  cookie_.clear();
  continuations_ = 0;
}

// nghttp2's callbacks, as static functions that find the codec in their user data.
struct Codec::Callbacks {
  static Codec& self(void* user) { return *static_cast<Codec*>(user); }
  static StreamBase* stream_of(nghttp2_session* session, std::int32_t id) {
    return static_cast<StreamBase*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int on_begin_frame(nghttp2_session* session, const nghttp2_frame_hd* hd, void* user) {
    auto& c = self(user);
    switch (hd->type) {
      case NGHTTP2_HEADERS:
        c.header_block_open_ = !(hd->flags & NGHTTP2_FLAG_END_HEADERS);
        break;
      case NGHTTP2_CONTINUATION: {
        c.header_block_open_ = !(hd->flags & NGHTTP2_FLAG_END_HEADERS);
        // Empty CONTINUATION frames add nothing to the header list, so its size alone does not
        // bound them (CVE-2024-27316): count the frames too.
        auto* stream = stream_of(session, hd->stream_id);
        auto most = static_cast<int>(std::max<std::uint64_t>(8, c.settings_.max_header_bytes / 1024));
        if (stream && ++stream->continuations_ > most)
          c.terminate(EndReason::ContinuationFlood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      }
      case NGHTTP2_PING:
      case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && !c.spend_control_budget(c.now_ms_))
          c.terminate(EndReason::ControlFlood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      case NGHTTP2_PRIORITY:
        if (!c.spend_control_budget(c.now_ms_))
          c.terminate(EndReason::ControlFlood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
            !c.spend_control_budget(c.now_ms_))
          c.terminate(EndReason::ControlFlood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto* stream = c.events_.open_stream(frame->hd.stream_id);
      if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
      stream->id = frame->hd.stream_id;
      nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream);
      ++c.open_streams_;
    } else if (auto* stream = stream_of(session, frame->hd.stream_id)) {
      stream->trailers = true;
      stream->continuations_ = 0;
    }
    return 0;
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame,
                       const std::uint8_t* name, std::size_t name_size, const std::uint8_t* value,
                       std::size_t value_size, std::uint8_t, void* user) {
    auto& c = self(user);
    if (c.end_ != EndReason::None) return NGHTTP2_ERR_PAUSE;
    auto* stream = stream_of(session, frame->hd.stream_id);
    if (!stream) return 0;
    stream->header_bytes += name_size + value_size + 32;
    if (stream->header_bytes > c.settings_.max_header_bytes) {
      c.terminate(EndReason::HeaderTooLarge, NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_PAUSE;
    }
    if (stream->trailers) return 0;  // request trailers are not forwarded to HTTP/1 upstreams
    std::string_view n(reinterpret_cast<const char*>(name), name_size);
    std::string_view v(reinterpret_cast<const char*>(value), value_size);
    if (n == ":authority") {
      stream->authority.assign(v);
      return 0;
    }
    if (n == "cookie") {
      if (!stream->cookie_.empty()) stream->cookie_ += "; ";
      stream->cookie_ += v;
      return 0;
    }
    if (n == ":scheme" || n == ":protocol") return 0;
    auto& s = stream->storage_;
    StreamBase::FieldAt at{static_cast<std::uint32_t>(s.size()),
                           static_cast<std::uint32_t>(name_size), 0,
                           static_cast<std::uint32_t>(value_size)};
    s.append(n);
    at.value_at = static_cast<std::uint32_t>(s.size());
    s.append(v);
    stream->fields_at_.push_back(at);
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    auto* stream = stream_of(session, frame->hd.stream_id);
    bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        c.header_block_open_ = false;
        if (!stream || c.end_ != EndReason::None) break;
        stream->received_bytes += frame->hd.length + 9;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          c.finish_head(*stream);
          stream->remote_closed = end_stream;
          c.events_.on_request(*stream, end_stream);
        } else if (end_stream && !stream->remote_closed) {
          stream->remote_closed = true;
          c.events_.on_remote_end(*stream);
        }
        break;
      case NGHTTP2_DATA:
        if (stream && end_stream && !stream->remote_closed) {
          stream->remote_closed = true;
          c.events_.on_remote_end(*stream);
        }
        break;
      case NGHTTP2_GOAWAY:
        c.peer_went_away_ = true;
        break;
      case NGHTTP2_RST_STREAM:
        if (++c.resets_ > c.answered_ + kResetAllowance)
          c.terminate(EndReason::RapidReset, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t size, void* user) {
    auto& c = self(user);
    auto* stream = stream_of(session, id);
    if (!stream) {
      nghttp2_session_consume_connection(session, size);
      return 0;
    }
    stream->received_bytes += size;
    c.events_.on_data(*stream, data, size);
    return c.end_ != EndReason::None ? NGHTTP2_ERR_PAUSE : 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error_code,
                             void* user) {
    auto& c = self(user);
    auto* stream = stream_of(session, id);
    if (!stream) return 0;
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    --c.open_streams_;
    c.events_.on_closed(*stream, error_code);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t size,
                           std::uint32_t* flags, nghttp2_data_source* source, void* user) {
    auto& c = self(user);
    auto* stream = static_cast<StreamBase*>(source->ptr);
    bool eof = false;
    long n = c.events_.read_body(*stream, buffer, size, eof);
    if (n < 0) return NGHTTP2_ERR_DEFERRED;
    if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return n;
  }
};

Codec::Codec(const CodecSettings& settings, Events& events)
    : settings_(settings), events_(events), control_tokens_(kControlBurst) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, &Callbacks::on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          &Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Callbacks::on_stream_close);

  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Windows open as the session forwards the body (consume()), not as bytes arrive: a stream
  // whose upstream is slow holds the client back instead of filling our memory.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_outbound_ack(option, kMaxOutboundControl);
  nghttp2_option_set_max_settings(option, 32);
  nghttp2_option_set_max_continuations(
      option, std::max<std::size_t>(8, settings.max_header_bytes / 1024) + 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);

  std::array<nghttp2_settings_entry, 4> entries{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(settings.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries.data(), entries.size());
  // The connection's window covers a few streams' worth at once; each stream's own window
  // bounds what it can hold.
  auto connection_window = static_cast<std::int32_t>(
      std::min<std::uint64_t>(std::max<std::uint64_t>(settings.initial_window * 4ull, 1u << 20),
                              (1u << 30)));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
}

Codec::~Codec() {
  nghttp2_session_del(session_);
}

bool Codec::spend_control_budget(std::int64_t now_ms) {
  if (now_ms > control_refilled_ms_) {
    control_tokens_ = std::min(kControlBurst, control_tokens_ + (now_ms - control_refilled_ms_) *
                                                                    kControlPerSecond / 1000.0);
    control_refilled_ms_ = now_ms;
  }
  if (control_tokens_ < 1) return false;
  control_tokens_ -= 1;
  return true;
}

void Codec::finish_head(StreamBase& stream) {
  // The views are made once every field is stored: storage_ no longer moves.
  auto& head = stream.request;
  const auto& s = stream.storage_;
  head.version = 20;
  head.fields.clear();
  bool has_host = false;
  for (const auto& at : stream.fields_at_) {
    std::string_view name(s.data() + at.name_at, at.name_size);
    std::string_view value(s.data() + at.value_at, at.value_size);
    if (name == ":method") {
      head.method = value;
    } else if (name == ":path") {
      head.target = value;
    } else if (name.starts_with(':')) {
      continue;
    } else if (name == "host") {
      // RFC 9113 8.3.1: :authority, when present, stands for Host.
      if (!stream.authority.empty()) continue;
      has_host = true;
      head.fields.push_back({name, value});
    } else {
      head.fields.push_back({name, value});
    }
  }
  if (!has_host && !stream.authority.empty()) head.fields.push_back({"host", stream.authority});
  if (!stream.cookie_.empty()) head.fields.push_back({"cookie", stream.cookie_});
  auto question = head.target.find('?');
  head.raw_path = head.target.substr(0, question);
  if (question != std::string_view::npos) {
    head.has_query = true;
    head.query = head.target.substr(question + 1);
  }
}

bool Codec::receive(const std::uint8_t* data, std::size_t size, std::int64_t now_ms) {
  now_ms_ = now_ms;
  while (size > 0 && !failed_ && end_ == EndReason::None) {
    auto n = nghttp2_session_mem_recv(session_, data, size);
    if (n < 0) {
      failed_ = true;
      if (n == NGHTTP2_ERR_FLOODED) {
        end_ = EndReason::OutboundFlood;
      } else if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
        terminate(EndReason::ContinuationFlood, NGHTTP2_ENHANCE_YOUR_CALM);
        failed_ = false;  // the GOAWAY queued can still go out
      } else {
        terminate(EndReason::ProtocolError, NGHTTP2_PROTOCOL_ERROR);
        failed_ = false;
      }
      break;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  // nghttp2 itself may have queued a GOAWAY (a connection error it found): it then wants to
  // read no more.
  if (end_ == EndReason::None && !failed_ && !peer_went_away_ && going_away_ == EndReason::None &&
      !nghttp2_session_want_read(session_))
    end_ = EndReason::ProtocolError;
  return end_ == EndReason::None && !failed_;
}

bool Codec::pending_output(std::string& out) {
  if (failed_) return false;
  for (;;) {
    const std::uint8_t* data = nullptr;
    auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      failed_ = true;
      return false;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

bool Codec::wants_write() const {
  return !failed_ && nghttp2_session_want_write(session_);
}

bool Codec::finished() const {
  return failed_ ||
         (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_));
}

bool Codec::submit_response(StreamBase& stream, const core::ResponseHead& head, bool has_body,
                            bool head_request) {
  stream.response_started = true;
  // Names go lower case (RFC 9113 8.2.1), connection-specific fields go (8.2.2).
  // nghttp2 copies names and values unless told not to: they live until the HEADERS frame is
  // packed, which happens in a later pending_output(), so they are copied.
  auto& nva = nva_scratch_;
  nva.clear();
  char status[4] = {static_cast<char>('0' + head.status / 100 % 10),
                    static_cast<char>('0' + head.status / 10 % 10),
                    static_cast<char>('0' + head.status % 10), 0};
  auto nv = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  nva.push_back(nv(":status", std::string_view(status, 3)));
  std::size_t lowered = 0;
  for (const auto& field : head.fields) lowered += field.name.size();
  name_scratch_.resize(lowered + 32);
  char* at = name_scratch_.data();
  bool has_length = false;
  for (const auto& field : head.fields) {
    char* start = at;
    for (char ch : field.name) *at++ = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    std::string_view name(start, field.name.size());
    if (is_connection_specific(name)) continue;
    if (name == "content-length") {
      if (!head.keep_framing) continue;
      has_length = true;
    }
    nva.push_back(nv(name, field.value));
  }
  char length[24];
  if (!has_length && head.content_length && head.status != 204 && head.status != 304) {
    auto text = std::to_string(*head.content_length);
    std::copy(text.begin(), text.end(), length);
    nva.push_back(nv("content-length", std::string_view(length, text.size())));
  }
  nghttp2_data_provider provider;
  provider.source.ptr = &stream;
  provider.read_callback = &Callbacks::read_body;
  bool body = has_body && !head_request;
  return nghttp2_submit_response(session_, stream.id, nva.data(), nva.size(),
                                 body ? &provider : nullptr) == 0;
}

bool Codec::submit_continue(StreamBase& stream) {
  static const nghttp2_nv status = {
      reinterpret_cast<std::uint8_t*>(const_cast<char*>(":status")),
      reinterpret_cast<std::uint8_t*>(const_cast<char*>("100")), 7, 3, NGHTTP2_NV_FLAG_NONE};
  return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream.id, nullptr, &status, 1,
                                nullptr) >= 0;
}

void Codec::resume(StreamBase& stream) {
  nghttp2_session_resume_data(session_, stream.id);
}

void Codec::reset(StreamBase& stream, std::uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, error_code);
}

void Codec::consume(StreamBase& stream, std::size_t size) {
  if (size == 0) return;
  if (nghttp2_session_consume(session_, stream.id, size) != 0)
    nghttp2_session_consume_connection(session_, size);  // the stream is gone already
}

void Codec::go_away(EndReason reason, bool notice_first) {
  if (end_ != EndReason::None || goaway_sent_) return;
  if (notice_first && going_away_ == EndReason::None) {
    going_away_ = reason;
    nghttp2_submit_shutdown_notice(session_);
    return;
  }
  going_away_ = reason;
  goaway_sent_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void Codec::terminate(EndReason reason, std::uint32_t error_code) {
  if (end_ != EndReason::None) return;
  end_ = reason;
  going_away_ = reason;
  nghttp2_session_terminate_session(session_, error_code);
}

}  // namespace portico::http2
