// One response body's encoder (gzip through zlib, or libdeflate for a body that comes whole; br
// through libbrotlienc, zstd through libzstd), fed piece by piece: its memory is the encoder's
// window and tables, whatever the body's size, and sized down to the body when its length is known.
// The encoder is held only while an answer is being compressed: at its end it goes back to a small
// pool of its worker thread, so memory follows the answers in flight, not the connections open.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "filters/compress/accept_encoding.h"

namespace portico::filters::compress {

class StreamCompressor {
 public:
  StreamCompressor();
  ~StreamCompressor();
  StreamCompressor(const StreamCompressor&) = delete;
  StreamCompressor& operator=(const StreamCompressor&) = delete;

  // A new stream; false when the encoder could not be made (memory). Identity is refused.
  // `size`: the body's length when known, which lets the encoder use smaller tables.
  bool start(Encoding encoding, int level, std::optional<std::uint64_t> size = std::nullopt);
  // Each appends the encoder's output to `out`; false on an encoder failure, after which the
  // stream is unusable until the next start().
  bool write(std::string_view input, std::string& out);  // buffered as the encoder likes
  // The whole body at once, before any write(): the stream's every byte and its end. gzip
  // then goes through libdeflate in one pass instead of zlib's stream.
  bool write_all(std::string_view input, std::string& out);
  bool flush(std::string& out);   // everything written so far decodable by the client now
  bool finish(std::string& out);  // the stream's end: its trailer
  Encoding encoding() const { return encoding_; }

 private:
  enum class Op { Process, Flush, Finish };
  bool run(std::string_view input, Op op, std::string& out);
  bool run_gzip(std::string_view input, Op op, std::string& out);
  bool run_br(std::string_view input, Op op, std::string& out);
  bool run_zstd(std::string_view input, Op op, std::string& out);
  bool start_gzip_stream();
  void release();  // the encoder goes back to the thread's pool (or is freed)

 public:
  struct Gzip;  // public for the thread's pool of encoders
  struct Br;
  struct Zstd;

 private:
  Encoding encoding_ = Encoding::Identity;
  int level_ = 0;
  std::optional<std::uint64_t> size_;  // the body's length, when known
  bool reusable_ = false;              // an encoder of encoding_ is held and usable
  std::unique_ptr<Gzip> gzip_;
  std::unique_ptr<Br> br_;
  std::unique_ptr<Zstd> zstd_;
};

}  // namespace portico::filters::compress
