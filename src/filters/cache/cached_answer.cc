#include "filters/cache/cached_answer.h"

#include <algorithm>
#include <cstring>

#include "core/ascii.h"

namespace portico::filters::cache {

std::string_view CachedAnswer::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (core::iequals(n, name)) return v;
  return {};
}

std::int64_t CachedAnswer::age_seconds(std::int64_t now_ms) const {
  return initial_age + std::max<std::int64_t>(0, now_ms - stored_ms) / 1000;
}

std::size_t CachedAnswer::size() const {
  std::size_t n = sizeof(CachedAnswer) + body.size() + path.size() + route_tag.size();
  for (const auto& [name, value] : headers) n += name.size() + value.size() + 64;
  for (const auto& name : vary) n += name.size() + 32;
  return n;
}

std::int64_t CachedAnswer::keep_until_ms() const {
  return std::max({fresh_until_ms, stale_while_revalidate_until_ms, stale_if_error_until_ms});
}

namespace {

constexpr char kVersion = 1;

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}
void put_text(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t u64() {
    if (in.size() < 8) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(8);
    return v;
  }
  std::string text() {
    auto n = u64();
    if (!ok || n > in.size()) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string serialize(const CachedAnswer& a) {
  std::string out;
  out.reserve(a.size());
  out.push_back(kVersion);
  out.push_back(a.vary_marker ? 1 : 0);
  put_u64(out, a.vary.size());
  for (const auto& v : a.vary) put_text(out, v);
  put_u64(out, static_cast<std::uint64_t>(a.status));
  put_u64(out, a.headers.size());
  for (const auto& [n, v] : a.headers) {
    put_text(out, n);
    put_text(out, v);
  }
  put_text(out, a.path);
  put_text(out, a.route_tag);
  for (auto t : {a.stored_ms, a.initial_age, a.fresh_until_ms, a.stale_while_revalidate_until_ms,
                 a.stale_if_error_until_ms})
    put_u64(out, static_cast<std::uint64_t>(t));
  put_text(out, a.body);
  return out;
}

std::optional<CachedAnswer> deserialize(std::string_view bytes) {
  if (bytes.size() < 2 || bytes[0] != kVersion || (bytes[1] != 0 && bytes[1] != 1))
    return std::nullopt;
  CachedAnswer a;
  a.vary_marker = bytes[1] == 1;
  Reader r{bytes.substr(2)};
  auto vary_count = r.u64();
  if (vary_count > 256) return std::nullopt;
  for (std::uint64_t i = 0; r.ok && i < vary_count; ++i) a.vary.push_back(r.text());
  auto status = r.u64();
  if (status < 100 || status > 599) return std::nullopt;
  a.status = static_cast<int>(status);
  auto header_count = r.u64();
  if (header_count > 1024) return std::nullopt;
  for (std::uint64_t i = 0; r.ok && i < header_count; ++i) {
    auto name = r.text();
    auto value = r.text();
    a.headers.emplace_back(std::move(name), std::move(value));
  }
  a.path = r.text();
  a.route_tag = r.text();
  for (auto* t : {&a.stored_ms, &a.initial_age, &a.fresh_until_ms,
                  &a.stale_while_revalidate_until_ms, &a.stale_if_error_until_ms})
    *t = static_cast<std::int64_t>(r.u64());
  a.body = r.text();
  if (!r.ok || !r.in.empty() || a.status < 100 || a.status > 599) return std::nullopt;
  return a;
}

}  // namespace portico::filters::cache
