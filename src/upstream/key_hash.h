// Hashing of balancing keys (client ip, header value, cookie, claim, path) for consistent_hash.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::upstream {

// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// FNV-1a over the bytes, then the finalizer: FNV-1a alone leaves the high bits weak for short
// keys, and the Maglev slot is taken modulo a prime of the whole 64 bits.
constexpr std::uint64_t hash_bytes(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h ^ bytes.size());
}

}  // namespace portico::upstream
