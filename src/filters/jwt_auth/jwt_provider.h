// `type: jwt`: a signed token from `token_from`, verified against the provider's keys (secret,
// public_key, jwks_file, or jwks_url fetched on the control plane). Verified tokens are cached
// until their exp, so a repeat RS256 token costs a hash lookup, not a signature check.
#pragma once

#include <memory>

#include "config/config.h"
#include "control/control_plane.h"
#include "filters/auth/auth_provider.h"
#include "filters/auth/credential_source.h"
#include "filters/jwt_auth/jwks_source.h"
#include "filters/jwt_auth/token_cache.h"
#include "filters/jwt_auth/verifier.h"

namespace portico::filters::jwt_auth {

class JwtProvider final : public auth::AuthProvider {
 public:
  // Reads public_key / jwks_file now; starts fetching jwks_url on `control`. Throws
  // std::runtime_error naming the file or key when it cannot.
  JwtProvider(const auth::AuthProviderConfig& config, control::ControlPlane* control);
  ~JwtProvider() override;

  auth::AuthResult authenticate(proxy::RequestContext& ctx) const override;
  // After Wait: the JWKS had no set yet or lacked the token's kid; refetch (rate-limited), then
  // verify again.
  boost::asio::awaitable<auth::AuthResult> authenticate_async(
      proxy::RequestContext& ctx) const override;

 private:
  enum class Stage { First, AfterRefresh };
  auth::AuthResult check(proxy::RequestContext& ctx, std::string_view token, Stage stage) const;
  std::shared_ptr<const jwt::KeySet> current_keys() const;

  auth::CredentialSources sources_;
  jwt::Verifier verifier_;
  std::shared_ptr<jwt::TokenCache> cache_;
  std::shared_ptr<const jwt::KeySet> static_keys_;  // secret, public_key, jwks_file
  std::shared_ptr<jwt::JwksSource> jwks_;           // jwks_url
  control::ControlPlane* control_;
};

}  // namespace portico::filters::jwt_auth
