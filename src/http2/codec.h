// The server side of one HTTP/2 connection as bytes in and bytes out, on nghttp2, with no I/O
// of its own: the connection driver (server_connection.h) feeds it what the socket read and
// sends what it produces; the fuzz target feeds it frames directly. Besides nghttp2's own
// checks (RFC 9113 framing, HPACK, header validity, content-length against DATA, flow
// control), it enforces the abuse rules of behaviour.md: rapid reset, CONTINUATION floods,
// header lists over max_header_bytes, SETTINGS/PING/empty-DATA floods, and a bound on pending
// control frames. Each ends the connection with GOAWAY and a reason the driver counts.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_head.h"
#include "core/response_head.h"



namespace portico::http2 {

struct CodecSettings {
  std::uint32_t max_concurrent_streams = 128;
  std::uint32_t initial_window = 1u << 20;  // per-stream receive window
  std::uint64_t max_header_bytes = 16 * 1024;
};

// Why a connection ended: the `reason` of portico_http2_goaway_total, whose names
// (observability::http2_goaway_reasons) follow this order.
enum class EndReason : std::uint8_t {
  None,
  ProtocolError,      // nghttp2 refused a frame (PROTOCOL_ERROR, COMPRESSION_ERROR, ...)
  RapidReset,         // more resets than answers plus the allowance
  ContinuationFlood,  // a header block in too many frames
  HeaderTooLarge,     // a header list over max_header_bytes
  ControlFlood,       // SETTINGS, PING, PRIORITY or empty DATA beyond their budget
  OutboundFlood,      // control frames pile up because the client does not read
  HeaderTimeout,      // a header block left unfinished past header_timeout
  IdleTimeout,
  Drain,  // drain or reload
};
// What the codec knows of a stream; the driver's stream derives from it.
class StreamBase {
 public:
  virtual ~StreamBase() = default;
  std::int32_t id = 0;
  core::RequestHead request;  // views into `storage_`, complete once the request is handed over
  std::string authority;   // :authority, also given as `host` when the client sent none
  std::uint64_t header_bytes = 0;  // as RFC 9113 counts them (name + value + 32 per field)
  std::uint64_t received_bytes = 0;  // header block and DATA, as received
  bool remote_closed = false;      // END_STREAM received: the body is complete
  bool trailers = false;           // a second header block came (ignored, not forwarded)
  bool response_started = false;

  // Storage the head's views point into; kept until the stream is reset for reuse.
  std::string storage_;
  struct FieldAt {
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::vector<FieldAt> fields_at_;
  std::string cookie_;  // cookies joined with "; " (RFC 9113 8.2.3)
  int continuations_ = 0;
  void reset_base();
};

class Codec {
 public:
  class Events {
   public:
    virtual ~Events() = default;
    // A new stream's first header block began: the driver's stream object for it.
    virtual StreamBase* open_stream(std::int32_t id) = 0;
    // Its request head is complete (`end_stream`: no body follows).
    virtual void on_request(StreamBase& stream, bool end_stream) = 0;
    virtual void on_data(StreamBase& stream, const std::uint8_t* data, std::size_t size) = 0;
    virtual void on_remote_end(StreamBase& stream) = 0;
    // nghttp2 forgot the stream (answered, reset by either side, or the connection ended);
    // `error_code` 0 for an orderly close.
    virtual void on_closed(StreamBase& stream, std::uint32_t error_code) = 0;
    // Response body bytes for `stream` into `buffer`; sets `eof` at the end. Returns the count,
    // or -1 to say "nothing yet" (the driver resumes the stream when bytes come).
    virtual long read_body(StreamBase& stream, std::uint8_t* buffer, std::size_t size,
                           bool& eof) = 0;
  };

  Codec(const CodecSettings& settings, Events& events);
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // Takes bytes from the client (`now_ms`: a monotonic clock, for the flood budgets). False
  // when the connection must end: what pending_output() gives then is its last words.
  bool receive(const std::uint8_t* data, std::size_t size, std::int64_t now_ms);
  // Appends the frames ready to go out. False when nothing more will ever be sent.
  bool pending_output(std::string& out);
  bool wants_write() const;
  bool finished() const;  // nothing more to read or to write: close the connection

  // The answer's head; `has_body` false: END_STREAM rides on HEADERS.
  bool submit_response(StreamBase& stream, const core::ResponseHead& head, bool has_body,
                       bool head_request);
  bool submit_continue(StreamBase& stream);  // an interim 100
  void resume(StreamBase& stream);           // read_body has bytes again
  void reset(StreamBase& stream, std::uint32_t error_code);
  // The driver forwarded `size` body bytes of `stream`: the client may send as many again.
  void consume(StreamBase& stream, std::size_t size);
  void answered() { ++answered_; }  // a stream's answer was sent in full
  // Graceful end: a GOAWAY with the last stream id; open streams finish. `notice_first`: a
  // shutdown notice now and the real GOAWAY on the next call (RFC 9113 6.8).
  void go_away(EndReason reason, bool notice_first);
  void terminate(EndReason reason, std::uint32_t error_code);  // GOAWAY now, streams dropped
  bool going_away() const { return going_away_ != EndReason::None; }
  bool goaway_sent() const { return goaway_sent_ || end_ != EndReason::None; }
  EndReason going_away_reason() const { return going_away_; }
  EndReason end_reason() const { return end_; }
  bool in_header_block() const { return header_block_open_; }
  std::size_t open_streams() const { return open_streams_; }

  static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

 private:
  struct Callbacks;
  friend struct Callbacks;
  bool spend_control_budget(std::int64_t now_ms);
  void finish_head(StreamBase& stream);  // the head's views, once every field is stored

  CodecSettings settings_;
  Events& events_;
  nghttp2_session* session_ = nullptr;
  std::int64_t now_ms_ = 0;
  std::uint64_t resets_ = 0;
  std::uint64_t answered_ = 0;
  double control_tokens_;
  std::int64_t control_refilled_ms_ = 0;
  bool header_block_open_ = false;
  std::size_t open_streams_ = 0;
  EndReason going_away_ = EndReason::None;
  EndReason end_ = EndReason::None;
  bool peer_went_away_ = false;  // the client sent GOAWAY
  bool goaway_sent_ = false;  // the final GOAWAY of a graceful end
  bool failed_ = false;  // nghttp2 returned a fatal error: stop at once
  std::vector<char> name_scratch_;
  std::vector<nghttp2_nv> nva_scratch_;  // a response's fields, reused
};

}  // namespace portico::http2
