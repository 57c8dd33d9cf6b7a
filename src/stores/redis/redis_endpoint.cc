#include "stores/redis/redis_endpoint.h"

#include <boost/url/parse.hpp>
#include <charconv>

#include "core/url_target.h"

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
  out.host = core::url_host(url);
  if (out.host.empty()) return "bad redis url: no host";
  auto port = core::url_port(url, out.port);
  if (!port) return "bad redis url: bad port";
  out.port = *port;
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
