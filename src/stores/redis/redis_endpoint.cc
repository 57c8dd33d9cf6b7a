#include "stores/redis/redis_endpoint.h"

#include <boost/url/parse.hpp>
#include <charconv>

namespace portico::stores::redis {

namespace urls = boost::urls;

namespace {

bool parse_number(std::string_view digits, unsigned long max, unsigned long& out) {
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return !digits.empty() && ec == std::errc{} && end == digits.data() + digits.size() && out <= max;
}

}  // namespace

std::string RedisEndpoint::address() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string parse_endpoint(std::string_view text, RedisEndpoint& out) {
  std::string with_scheme;
  if (text.find("://") == std::string_view::npos) {
    with_scheme = "redis://" + std::string{text};
    text = with_scheme;
  }
  auto parsed = urls::parse_uri(text);
  if (!parsed) return "bad redis url";
  const auto& url = *parsed;
  if (url.scheme() == "rediss") {
    out.tls = true;
  } else if (url.scheme() != "redis") {
    return "bad redis url: scheme must be redis or rediss";
  }
  switch (url.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      out.host = url.host_address();
      break;
    case urls::host_type::name:
      out.host = url.host_name();
      break;
    default:
      return "bad redis url: no host";
  }
  if (out.host.empty()) return "bad redis url: no host";
  if (url.has_port()) {
    unsigned long port = 0;
    // port_number() wraps values past 65535, so the digits are read here.
    if (!parse_number(url.port(), 65535, port) || port == 0) return "bad redis url: bad port";
    out.port = static_cast<std::uint16_t>(port);
  }
  if (url.has_userinfo()) {
    // Redis URLs put the password where HTTP puts it; "redis://:pass@" logs in as "default".
    if (!url.has_password()) return "bad redis url: a user without a password";
    out.user = url.user();
    out.password = url.password();
  }
  std::string_view path = url.encoded_path();
  if (!path.empty() && path != "/") {
    unsigned long db = 0;
    if (!parse_number(path.substr(1), 1 << 20, db)) return "bad redis url: bad database number";
    out.db = static_cast<int>(db);
  }
  if (url.has_query() || url.has_fragment()) return "bad redis url: no query or fragment allowed";
  return {};
}

}  // namespace portico::stores::redis
