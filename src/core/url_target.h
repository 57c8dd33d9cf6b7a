// What a connection needs from a parsed URL (Boost.URL): its host, as a name or an IP literal
// without brackets, and its port, read from the digits (url_view::port_number() wraps values
// past 65535). Shared by the control plane's HTTP client and the Redis client.
#pragma once

#include <boost/url/url_view.hpp>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>

namespace portico::core {

// Empty when the URL names no host.
inline std::string url_host(const boost::urls::url_view& url) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      return url.host_address();
    case boost::urls::host_type::name:
      return url.host_name();
    default:
      return {};
  }
}

// The port the URL gives, `fallback` when it gives none; nullopt when it is not 1-65535.
inline std::optional<std::uint16_t> url_port(const boost::urls::url_view& url,
                                             std::uint16_t fallback) {
  if (!url.has_port() || url.port().empty()) return fallback;
  auto digits = url.port();
  unsigned long port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

}  // namespace portico::core
