// libFuzzer target for compress::negotiate: whatever the Accept-Encoding field says, the answer
// is one the server offers (or identity), and offering only that answer picks it again.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "filters/compress/accept_encoding.h"

namespace {

using portico::filters::compress::Encoding;
using portico::filters::compress::negotiate;

constexpr std::array<Encoding, 3> kAll = {Encoding::Zstd, Encoding::Br, Encoding::Gzip};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the server's preference: an order and a subset of the three.
  const std::uint8_t pick = data[0];
  std::array<Encoding, 3> order = kAll;
  for (int i = 0; i < pick % 6; ++i) std::next_permutation(order.begin(), order.end());
  const std::size_t offered = (pick / 6) % 4;
  const std::span<const Encoding> preference(order.data(), offered);
  const std::string_view field(reinterpret_cast<const char*>(data + 1), size - 1);

  const Encoding chosen = negotiate(field, preference);
  if (chosen != Encoding::Identity) {
    if (std::find(preference.begin(), preference.end(), chosen) == preference.end()) std::abort();
    const std::array<Encoding, 1> alone = {chosen};
    if (negotiate(field, alone) != chosen) std::abort();
  }
  if (negotiate(field, {}) != Encoding::Identity) std::abort();
  if (negotiate(field, preference) != chosen) std::abort();  // no hidden state
  return 0;
}
