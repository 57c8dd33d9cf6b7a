#include "filters/jwt_auth/base64url.h"

#include <openssl/evp.h>

#include <array>
#include <climits>

namespace portico::jwt {

namespace {

// The 6-bit value of each base64url character; -1 for every other byte.
constexpr std::array<signed char, 256> sextets = [] {
  std::array<signed char, 256> table{};
  table.fill(-1);
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  return table;
}();

int sextet(char c) {
  return sextets[static_cast<unsigned char>(c)];
}

}  // namespace

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  const std::size_t tail = text.size() % 4;
  if (tail == 1 || text.size() > INT_MAX / 2) return false;
  if (text.empty()) return true;
  for (const char c : text)
    if (sextet(c) < 0) return false;
  // The last character of a partial group carries bits beyond the data: 4 of them after one
  // byte, 2 after two. Zero is the only canonical value.
  const int last = sextet(text.back());
  if ((tail == 2 && (last & 0x0f) != 0) || (tail == 3 && (last & 0x03) != 0)) return false;

  // EVP_DecodeBlock speaks standard base64 with padding.
  const std::size_t padding = tail == 0 ? 0 : 4 - tail;
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  standard.append(padding, '=');
  out.resize(standard.size() / 4 * 3);
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(standard.data()),
                                      static_cast<int>(standard.size()));
  if (written < 0 || static_cast<std::size_t>(written) != out.size()) {
    out.clear();
    return false;
  }
  // EVP_DecodeBlock counts the padding as zero bytes of output.
  out.resize(out.size() - padding);
  return true;
}

}  // namespace portico::jwt
