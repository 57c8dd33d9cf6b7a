// Test-only: the libraries' own decoders, fed piece by piece as a client would feed them.
#pragma once

#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "filters/compress/accept_encoding.h"

namespace portico::filters::compress {

// Decodes a stream fed in pieces, as a client would; `done` once the stream's end was read.
class TestDecoder {
 public:
  explicit TestDecoder(Encoding encoding) : encoding_(encoding) {
    switch (encoding) {
      case Encoding::Gzip:
        EXPECT_EQ(inflateInit2(&z_, 15 + 16), Z_OK);
        break;
      case Encoding::Br:
        br_ = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
        break;
      case Encoding::Zstd:
        zstd_ = ZSTD_createDCtx();
        break;
      case Encoding::Identity:
        break;
    }
  }
  ~TestDecoder() {
    if (encoding_ == Encoding::Gzip) inflateEnd(&z_);
    if (br_) BrotliDecoderDestroyInstance(br_);
    ZSTD_freeDCtx(zstd_);
  }

  // What `input` decodes to; fails the test on a corrupt stream.
  std::string feed(std::string_view input) {
    std::string out;
    char buffer[4096];
    switch (encoding_) {
      case Encoding::Gzip: {
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
        z_.avail_in = static_cast<uInt>(input.size());
        do {
          z_.next_out = reinterpret_cast<Bytef*>(buffer);
          z_.avail_out = sizeof buffer;
          int rc = inflate(&z_, Z_NO_FLUSH);
          EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR) << rc;
          out.append(buffer, sizeof buffer - z_.avail_out);
          if (rc == Z_STREAM_END) done = true;
          if (rc != Z_OK) break;
        } while (z_.avail_in > 0 || z_.avail_out == 0);
        break;
      }
      case Encoding::Br: {
        std::size_t avail_in = input.size();
        const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
        for (;;) {
          std::size_t avail_out = sizeof buffer;
          auto* next_out = reinterpret_cast<std::uint8_t*>(buffer);
          auto rc = BrotliDecoderDecompressStream(br_, &avail_in, &next_in, &avail_out, &next_out,
                                                  nullptr);
          out.append(buffer, sizeof buffer - avail_out);
          EXPECT_NE(rc, BROTLI_DECODER_RESULT_ERROR);
          if (rc == BROTLI_DECODER_RESULT_SUCCESS) done = true;
          // NEEDS_MORE_INPUT may come with decoded bytes still held: take them too.
          if (rc != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT && !BrotliDecoderHasMoreOutput(br_))
            break;
        }
        break;
      }
      case Encoding::Zstd: {
        ZSTD_inBuffer in{input.data(), input.size(), 0};
        for (;;) {
          ZSTD_outBuffer o{buffer, sizeof buffer, 0};
          auto rc = ZSTD_decompressStream(zstd_, &o, &in);
          EXPECT_FALSE(ZSTD_isError(rc)) << ZSTD_getErrorName(rc);
          out.append(buffer, o.pos);
          if (ZSTD_isError(rc)) break;
          if (rc == 0) done = true;
          if (in.pos == in.size && o.pos < o.size) break;
        }
        break;
      }
      case Encoding::Identity:
        out.assign(input);
        break;
    }
    return out;
  }
  bool done = false;

 private:
  Encoding encoding_;
  z_stream z_{};
  BrotliDecoderState* br_ = nullptr;
  ZSTD_DCtx* zstd_ = nullptr;
};

}  // namespace portico::filters::compress
