#include "filters/compress/stream_compressor.h"

#include <brotli/encode.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace portico::filters::compress {

namespace {

// How much output room each encoder call gets; `out` grows by this until the call is done.
constexpr std::size_t kOutputStep = 32 * 1024;
// Brotli's and zstd's windows: 2^19 = 512 KiB. Their defaults (4 MiB, 2 MiB and more at high
// levels) would multiply the gateway's memory per compressed answer for little gain on API
// bodies; RFC 9659 also asks zstd senders for at most 8 MiB. gzip's window is 32 KiB anyway.
constexpr int kWindowLog = 19;

// Where one encoder call writes: a scratch area of the thread, whose output is then appended
// to `out`. (Growing `out` by the whole step first would zero it, 32 KiB per call, for output
// that is mostly a few hundred bytes.)
struct Room {
  std::string& out;
  explicit Room(std::string& text) : out(text) {}
  char* data() { return scratch; }
  static constexpr std::size_t size() { return kOutputStep; }
  void keep(std::size_t produced) { out.append(scratch, produced); }
  static thread_local char scratch[kOutputStep];
};
thread_local char Room::scratch[kOutputStep];

// Encoders kept per thread between answers: making one costs more than compressing a small
// body (zlib's tables, zstd's context).
constexpr std::size_t kPoolSize = 16;

// A window of 2^bits that holds `size` bytes: nothing larger is of use for that body.
int bits_for(std::optional<std::uint64_t> size, int low, int high) {
  if (!size) return high;
  int bits = std::bit_width(std::max<std::uint64_t>(*size, 1) - 1);
  return std::clamp(bits, low, high);
}

}  // namespace

struct StreamCompressor::Gzip {
  z_stream z{};
  bool live = false;
  int level = 0, window_bits = 0, mem_level = 0;  // what deflateInit2 was given
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

namespace {
thread_local bool pools_gone = false;  // the thread is exiting: encoders are freed, not kept
struct Pools {
  std::vector<std::unique_ptr<StreamCompressor::Gzip>> gzip;
  std::vector<std::unique_ptr<StreamCompressor::Zstd>> zstd;
  ~Pools() { pools_gone = true; }
};
thread_local Pools pools;

// libdeflate compressors of the thread, one per level as they are asked for: a whole body in
// one buffer is compressed by libdeflate, which does in one pass what zlib's stream does in
// several, at about twice the speed for the same size.
struct WholeBodyCompressors {
  std::array<libdeflate_compressor*, 13> by_level{};
  libdeflate_compressor* get(int level) {
    level = std::clamp(level, 1, 12);
    auto& c = by_level[static_cast<std::size_t>(level)];
    if (!c) c = libdeflate_alloc_compressor(level);
    return c;
  }
  ~WholeBodyCompressors() {
    for (auto* c : by_level)
      if (c) libdeflate_free_compressor(c);
  }
};
thread_local WholeBodyCompressors whole_body;
}  // namespace

StreamCompressor::StreamCompressor() = default;
StreamCompressor::~StreamCompressor() {
  release();
}

void StreamCompressor::release() {
  // A pooled encoder is reset before its next answer (deflateReset, ZSTD_CCtx_reset), so it
  // starts afresh however its last stream ended.
  if (!pools_gone) {
    if (gzip_ && gzip_->live && pools.gzip.size() < kPoolSize)
      pools.gzip.push_back(std::move(gzip_));
    if (zstd_ && zstd_->ctx && pools.zstd.size() < kPoolSize)
      pools.zstd.push_back(std::move(zstd_));
  }
  gzip_.reset();
  br_.reset();
  zstd_.reset();
  reusable_ = false;
}

// A zlib stream for this answer: pooled, or made. As nginx does, a body that fits a smaller
// window gets it, and smaller hash tables.
bool StreamCompressor::start_gzip_stream() {
  int window_bits = bits_for(size_, 9, 15);
  int mem_level = std::clamp(8 - (15 - window_bits), 1, 8);
  auto& pool = pools.gzip;
  auto it = std::find_if(pool.begin(), pool.end(), [&](const auto& g) {
    return g->level == level_ && g->window_bits == window_bits && g->mem_level == mem_level;
  });
  if (it != pool.end()) {
    gzip_ = std::move(*it);
    pool.erase(it);
    if (deflateReset(&gzip_->z) == Z_OK) return true;
    gzip_.reset();
  }
  gzip_ = std::make_unique<Gzip>();
  // windowBits + 16: a gzip wrapper around the deflate stream.
  if (deflateInit2(&gzip_->z, level_, Z_DEFLATED, window_bits + 16, mem_level,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  gzip_->live = true;
  gzip_->level = level_;
  gzip_->window_bits = window_bits;
  gzip_->mem_level = mem_level;
  return true;
}

bool StreamCompressor::start(Encoding encoding, int level, std::optional<std::uint64_t> size) {
  release();
  encoding_ = encoding;
  level_ = level;
  size_ = size;
  switch (encoding) {
    case Encoding::Gzip:
      // The zlib stream waits for the first piece: a body that comes whole goes to libdeflate
      // (write_all) and needs none.
      break;
    case Encoding::Br:
      // No reset in libbrotli's API: a new instance, which allocates only once data comes.
      br_ = std::make_unique<Br>();
      br_->state = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
      if (!br_->state) return false;
      BrotliEncoderSetParameter(br_->state, BROTLI_PARAM_QUALITY,
                                static_cast<std::uint32_t>(level));
      BrotliEncoderSetParameter(br_->state, BROTLI_PARAM_LGWIN,
                                static_cast<std::uint32_t>(bits_for(size, 16, kWindowLog)));
      if (size)
        BrotliEncoderSetParameter(
            br_->state, BROTLI_PARAM_SIZE_HINT,
            static_cast<std::uint32_t>(std::min<std::uint64_t>(*size, 1u << 30)));
      break;
    case Encoding::Zstd: {
      auto& pool = pools.zstd;
      if (!pool.empty()) {
        zstd_ = std::move(pool.back());
        pool.pop_back();
      } else {
        zstd_ = std::make_unique<Zstd>();
        zstd_->ctx = ZSTD_createCCtx();
        if (!zstd_->ctx) return false;
      }
      auto* ctx = zstd_->ctx;
      // The known length lets zstd pick tables for the body's size, not for its window.
      if (ZSTD_isError(ZSTD_CCtx_reset(ctx, ZSTD_reset_session_and_parameters)) ||
          ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level)) ||
          ZSTD_isError(ZSTD_CCtx_setParameter(ctx, ZSTD_c_windowLog, kWindowLog)) ||
          (size && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(ctx, *size)))) {
        zstd_.reset();
        return false;
      }
      break;
    }
    case Encoding::Identity:
      return false;
  }
  reusable_ = true;
  return true;
}

bool StreamCompressor::write(std::string_view input, std::string& out) {
  return run(input, Op::Process, out);
}

bool StreamCompressor::write_all(std::string_view input, std::string& out) {
  if (reusable_ && encoding_ == Encoding::Gzip && !gzip_) {
    if (auto* c = whole_body.get(level_)) {
      std::size_t bound = libdeflate_gzip_compress_bound(c, input.size());
      std::size_t produced = 0;
      if (bound <= Room::size()) {
        Room room(out);
        produced = libdeflate_gzip_compress(c, input.data(), input.size(), room.data(), bound);
        room.keep(produced);
      } else {
        auto at = out.size();
        out.resize(at + bound);
        produced = libdeflate_gzip_compress(c, input.data(), input.size(), out.data() + at, bound);
        out.resize(at + produced);
      }
      release();
      return produced > 0;
    }
  }
  return write(input, out) && finish(out);
}

bool StreamCompressor::flush(std::string& out) {
  return run({}, Op::Flush, out);
}

bool StreamCompressor::finish(std::string& out) {
  bool ok = run({}, Op::Finish, out);
  release();  // the stream is over: the encoder serves the thread's next answer
  return ok;
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
  if (!gzip_ && !start_gzip_stream()) return false;
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
