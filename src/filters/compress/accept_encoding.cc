#include "filters/compress/accept_encoding.h"

#include <array>
#include <optional>

#include "core/ascii.h"

namespace portico::filters::compress {

namespace {

constexpr int kUnset = -1;
constexpr int kQMax = 1000;  // q in thousandths: 0 ... 1000

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> parse_qvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int whole = s[0] - '0';
  s.remove_prefix(1);
  if (s.empty()) return whole * kQMax;
  if (s[0] != '.' || s.size() > 4) return std::nullopt;
  int fraction = 0;
  int scale = 100;
  for (char c : s.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    fraction += (c - '0') * scale;
    scale /= 10;
  }
  if (whole == 1 && fraction != 0) return std::nullopt;
  return whole * kQMax + fraction;
}

// One list member: "coding *( OWS ; OWS param )"; nullopt when malformed. Parameters other
// than q are allowed and ignored.
struct Member {
  std::string_view coding;
  int q = kQMax;
};

std::optional<Member> parse_member(std::string_view text) {
  Member out;
  auto semicolon = text.find(';');
  out.coding = trim(text.substr(0, semicolon));
  if (!is_token(out.coding)) return std::nullopt;
  while (semicolon != std::string_view::npos) {
    text.remove_prefix(semicolon + 1);
    semicolon = text.find(';');
    auto param = trim(text.substr(0, semicolon));
    auto equals = param.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    auto name = trim(param.substr(0, equals));
    auto value = trim(param.substr(equals + 1));
    if (!is_token(name)) return std::nullopt;
    if (!core::iequals(name, "q")) continue;
    auto q = parse_qvalue(value);
    if (!q) return std::nullopt;
    out.q = *q;
  }
  return out;
}

// Indexes of what the client said: the codings Portico knows, `identity` and `*`.
enum Slot { kIdentity, kGzip, kBr, kZstd, kAny, kSlots };

int slot_of(std::string_view coding) {
  if (coding == "*") return kAny;
  switch (encoding_from_name(coding)) {
    case Encoding::Gzip:
      return kGzip;
    case Encoding::Br:
      return kBr;
    case Encoding::Zstd:
      return kZstd;
    case Encoding::Identity:
      return core::iequals(coding, "identity") ? kIdentity : kSlots;
  }
  return kSlots;
}

}  // namespace

std::string_view encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::Identity:
      return "identity";
    case Encoding::Gzip:
      return "gzip";
    case Encoding::Br:
      return "br";
    case Encoding::Zstd:
      return "zstd";
  }
  return "identity";
}

Encoding encoding_from_name(std::string_view name) {
  if (core::iequals(name, "gzip") || core::iequals(name, "x-gzip")) return Encoding::Gzip;
  if (core::iequals(name, "br")) return Encoding::Br;
  if (core::iequals(name, "zstd")) return Encoding::Zstd;
  return Encoding::Identity;
}

Encoding negotiate(std::string_view accept_encoding, std::span<const Encoding> preference) {
  // The q the client gave each slot; a coding named twice keeps its first q.
  std::array<int, kSlots> q;
  q.fill(kUnset);
  while (!accept_encoding.empty()) {
    auto comma = accept_encoding.find(',');
    auto member = parse_member(accept_encoding.substr(0, comma));
    accept_encoding.remove_prefix(comma == std::string_view::npos ? accept_encoding.size()
                                                                  : comma + 1);
    if (!member) continue;
    int slot = slot_of(member->coding);
    if (slot != kSlots && q[slot] == kUnset) q[slot] = member->q;
  }

  auto chosen = Encoding::Identity;
  int best = 0;  // only q > 0 is acceptable
  for (auto encoding : preference) {
    int slot = slot_of(encoding_name(encoding));
    if (slot == kIdentity || slot == kSlots) continue;
    int given = q[slot] != kUnset ? q[slot] : q[kAny];
    if (given > best) {
      best = given;
      chosen = encoding;
    }
  }
  // A client may prefer its bytes plain: identity rated above every coding it accepts.
  if (chosen != Encoding::Identity && q[kIdentity] > best) return Encoding::Identity;
  return chosen;
}

}  // namespace portico::filters::compress
