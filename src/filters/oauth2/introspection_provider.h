// `type: oauth2_introspection` (RFC 7662): the bearer token is sent to the authorization
// server's introspection endpoint with the gateway's client credentials. Active answers are
// cached up to min(cache_ttl, the token's exp), inactive ones up to min(cache_ttl, 30s);
// concurrent requests with the same uncached token share one call, made on the control plane.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "control/control_plane.h"
#include "filters/auth/auth_provider.h"

namespace portico::filters::oauth2 {

// What the authorization server said about one token.
struct Introspection {
  bool active = false;
  std::string subject;
  std::vector<std::string> scopes;
  std::chrono::steady_clock::time_point cache_until;
};

class IntrospectionProvider final : public auth::AuthProvider {
 public:
  IntrospectionProvider(const auth::AuthProviderConfig& config, control::ControlPlane* control);

  auth::AuthResult authenticate(proxy::RequestContext& ctx) const override;
  boost::asio::awaitable<auth::AuthResult> authenticate_async(
      proxy::RequestContext& ctx) const override;

 private:
  // State shared with calls in flight on the control plane (which may outlive the provider
  // after a reload).
  struct Shared;
  auth::AuthResult from(proxy::RequestContext& ctx,
                        std::shared_ptr<const Introspection> answer) const;

  std::shared_ptr<Shared> shared_;
  control::ControlPlane* control_;
};

// Parses an RFC 7662 answer; `now_unix` and `cache_ttl` bound how long it may be cached.
// Anything but a JSON object with "active": true is inactive.
std::shared_ptr<const Introspection> parse_introspection(std::string_view body,
                                                         std::int64_t now_unix,
                                                         std::chrono::seconds cache_ttl);

}  // namespace portico::filters::oauth2
