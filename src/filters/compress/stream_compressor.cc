#include "filters/compress/stream_compressor.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <limits>

namespace portico::filters::compress {

namespace {

// How much output room each encoder call gets; `out` grows by this until the call is done.
constexpr std::size_t kOutputStep = 32 * 1024;
// Brotli's and zstd's windows: 2^19 = 512 KiB. Their defaults (4 MiB, 2 MiB and more at high
// levels) would multiply the gateway's memory per compressed answer for little gain on API
// bodies; RFC 9659 also asks zstd senders for at most 8 MiB. gzip's window is 32 KiB anyway.
constexpr int kWindowLog = 19;

// Room at the end of `out` for one call's output: where it starts and how much there is.
struct Room {
  std::string& out;
  std::size_t used;
  explicit Room(std::string& text) : out(text), used(text.size()) {
    out.resize(used + kOutputStep);
  }
  char* data() { return out.data() + used; }
  static constexpr std::size_t size() { return kOutputStep; }
  void keep(std::size_t produced) { out.resize(used + produced); }
};

}  // namespace

struct StreamCompressor::Gzip {
  z_stream z{};
  bool live = false;
  ~Gzip() {
    if (live) deflateEnd(&z);
  }
};

struct StreamCompressor::Br {
  BrotliEncoderState* state = nullptr;
  ~Br() {
    if (state) BrotliEncoderDestroyInstance(state);
  }
};

struct StreamCompressor::Zstd {
  ZSTD_CCtx* ctx = nullptr;
  ~Zstd() { ZSTD_freeCCtx(ctx); }
};

StreamCompressor::StreamCompressor() = default;
StreamCompressor::~StreamCompressor() = default;

void StreamCompressor::release() {
  gzip_.reset();
  br_.reset();
  zstd_.reset();
  reusable_ = false;
}

bool StreamCompressor::start(Encoding encoding, int level) {
  bool same = reusable_ && encoding == encoding_ && level == level_;
  encoding_ = encoding;
  level_ = level;
  reusable_ = false;
  switch (encoding) {
    case Encoding::Gzip:
      if (same && deflateReset(&gzip_->z) == Z_OK) break;
      release();
      gzip_ = std::make_unique<Gzip>();
      // windowBits 15 + 16: a gzip wrapper around the deflate stream.
      if (deflateInit2(&gzip_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
      gzip_->live = true;
      break;
    case Encoding::Br:
      // No reset in libbrotli's API: a new instance, which allocates only once data comes.
      release();
      br_ = std::make_unique<Br>();
      br_->state = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
      if (!br_->state) return false;
      BrotliEncoderSetParameter(br_->state, BROTLI_PARAM_QUALITY,
                                static_cast<std::uint32_t>(level));
      BrotliEncoderSetParameter(br_->state, BROTLI_PARAM_LGWIN, kWindowLog);
      break;
    case Encoding::Zstd:
      if (same && !ZSTD_isError(ZSTD_CCtx_reset(zstd_->ctx, ZSTD_reset_session_only))) break;
      release();
      zstd_ = std::make_unique<Zstd>();
      zstd_->ctx = ZSTD_createCCtx();
      if (!zstd_->ctx) return false;
      if (ZSTD_isError(ZSTD_CCtx_setParameter(zstd_->ctx, ZSTD_c_compressionLevel, level)) ||
          ZSTD_isError(ZSTD_CCtx_setParameter(zstd_->ctx, ZSTD_c_windowLog, kWindowLog)))
        return false;
      break;
    case Encoding::Identity:
      return false;
  }
  reusable_ = true;
  return true;
}

bool StreamCompressor::write(std::string_view input, std::string& out) {
  return run(input, Op::Process, out);
}

bool StreamCompressor::flush(std::string& out) {
  return run({}, Op::Flush, out);
}

bool StreamCompressor::finish(std::string& out) {
  return run({}, Op::Finish, out);
}

bool StreamCompressor::run(std::string_view input, Op op, std::string& out) {
  bool ok = false;
  if (reusable_) {
    switch (encoding_) {
      case Encoding::Gzip:
        ok = run_gzip(input, op, out);
        break;
      case Encoding::Br:
        ok = run_br(input, op, out);
        break;
      case Encoding::Zstd:
        ok = run_zstd(input, op, out);
        break;
      case Encoding::Identity:
        break;
    }
  }
  if (!ok) release();
  return ok;
}

bool StreamCompressor::run_gzip(std::string_view input, Op op, std::string& out) {
  auto& z = gzip_->z;
  int flush = op == Op::Process ? Z_NO_FLUSH : op == Op::Flush ? Z_SYNC_FLUSH : Z_FINISH;
  // zlib counts in uInt: a larger input goes in slices.
  constexpr std::size_t kSlice = std::numeric_limits<uInt>::max();
  do {
    auto slice = input.substr(0, kSlice);
    input.remove_prefix(slice.size());
    int step_flush = input.empty() ? flush : Z_NO_FLUSH;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(slice.data()));
    z.avail_in = static_cast<uInt>(slice.size());
    for (;;) {
      Room room(out);
      z.next_out = reinterpret_cast<Bytef*>(room.data());
      z.avail_out = static_cast<uInt>(room.size());
      int rc = deflate(&z, step_flush);
      room.keep(room.size() - z.avail_out);
      if (rc == Z_STREAM_ERROR) return false;
      if (step_flush == Z_FINISH) {
        if (rc == Z_STREAM_END) break;
        continue;
      }
      // Z_BUF_ERROR only says there was nothing left to do.
      if (z.avail_in == 0 && z.avail_out != 0) break;
    }
  } while (!input.empty());
  return true;
}

bool StreamCompressor::run_br(std::string_view input, Op op, std::string& out) {
  auto* state = br_->state;
  auto operation = op == Op::Process ? BROTLI_OPERATION_PROCESS
                   : op == Op::Flush ? BROTLI_OPERATION_FLUSH
                                     : BROTLI_OPERATION_FINISH;
  std::size_t avail_in = input.size();
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
  for (;;) {
    Room room(out);
    std::size_t avail_out = room.size();
    auto* next_out = reinterpret_cast<std::uint8_t*>(room.data());
    bool ok = BrotliEncoderCompressStream(state, operation, &avail_in, &next_in, &avail_out,
                                          &next_out, nullptr);
    room.keep(room.size() - avail_out);
    if (!ok) return false;
    if (op == Op::Finish) {
      if (BrotliEncoderIsFinished(state)) return true;
      continue;
    }
    if (avail_in == 0 && !BrotliEncoderHasMoreOutput(state)) return true;
  }
}

bool StreamCompressor::run_zstd(std::string_view input, Op op, std::string& out) {
  auto* ctx = zstd_->ctx;
  auto mode = op == Op::Process ? ZSTD_e_continue : op == Op::Flush ? ZSTD_e_flush : ZSTD_e_end;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  for (;;) {
    Room room(out);
    ZSTD_outBuffer o{room.data(), room.size(), 0};
    std::size_t left = ZSTD_compressStream2(ctx, &o, &in, mode);
    room.keep(o.pos);
    if (ZSTD_isError(left)) return false;
    if (op == Op::Process ? in.pos == in.size : left == 0) return true;
  }
}

}  // namespace portico::filters::compress
