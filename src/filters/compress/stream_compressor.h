// One response body's encoder (gzip through zlib, br through libbrotlienc, zstd through
// libzstd), fed piece by piece: its memory is the encoder's window and tables, whatever the
// body's size. Kept in the compress filter's per-request state, so a connection reuses its
// encoder from one answer to the next while the encoding and level stay the same.
#pragma once

#include <memory>
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
  bool start(Encoding encoding, int level);
  // Each appends the encoder's output to `out`; false on an encoder failure, after which the
  // stream is unusable until the next start().
  bool write(std::string_view input, std::string& out);  // buffered as the encoder likes
  bool flush(std::string& out);   // everything written so far decodable by the client now
  bool finish(std::string& out);  // the stream's end: its trailer
  Encoding encoding() const { return encoding_; }

 private:
  enum class Op { Process, Flush, Finish };
  bool run(std::string_view input, Op op, std::string& out);
  bool run_gzip(std::string_view input, Op op, std::string& out);
  bool run_br(std::string_view input, Op op, std::string& out);
  bool run_zstd(std::string_view input, Op op, std::string& out);
  void release();

  struct Gzip;
  struct Br;
  struct Zstd;
  Encoding encoding_ = Encoding::Identity;
  int level_ = 0;
  bool reusable_ = false;  // the encoder of encoding_/level_ can be reset rather than remade
  std::unique_ptr<Gzip> gzip_;
  std::unique_ptr<Br> br_;
  std::unique_ptr<Zstd> zstd_;
};

}  // namespace portico::filters::compress
