#include "filters/jwt_auth/jwt_provider.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>

namespace portico::filters::jwt_auth {

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

jwt::VerifierOptions verifier_options(const auth::AuthProviderConfig& config) {
  jwt::VerifierOptions options;
  options.algorithms = config.algorithms;
  // Without an allow-list, the algorithms of the key's kind: a key only verifies its own family
  // anyway, so this admits nothing a key could not check.
  if (options.algorithms.empty()) {
    if (!config.secret.empty())
      options.algorithms = {"HS256", "HS384", "HS512"};
    else
      options.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384",
                            "PS512", "ES256", "ES384", "EdDSA"};
  }
  options.issuer = config.issuer;
  options.audience = config.audience;
  options.leeway = std::chrono::duration_cast<std::chrono::seconds>(config.leeway);
  options.roles_claim = config.roles_claim;
  options.forward_claims = config.forward_claims;
  return options;
}

auth::Failure to_auth_failure(jwt::Failure failure) {
  switch (failure) {
    case jwt::Failure::Malformed:
      return auth::Failure::Malformed;
    case jwt::Failure::AlgorithmNotAllowed:
      return auth::Failure::AlgorithmNotAllowed;
    case jwt::Failure::UnknownKey:
      return auth::Failure::UnknownKey;
    case jwt::Failure::BadSignature:
      return auth::Failure::BadSignature;
    case jwt::Failure::Expired:
      return auth::Failure::Expired;
    case jwt::Failure::NotYetValid:
      return auth::Failure::NotYetValid;
    case jwt::Failure::WrongIssuer:
      return auth::Failure::WrongIssuer;
    case jwt::Failure::WrongAudience:
      return auth::Failure::WrongAudience;
  }
  return auth::Failure::Malformed;
}

std::shared_ptr<const jwt::KeySet> parsed_or_throw(const std::string& provider,
                                                   const std::string& key,
                                                   jwt::KeySetResult result) {
  if (!result.key_set)
    throw std::runtime_error("auth." + provider + "." + key + ": " + result.error);
  return std::make_shared<const jwt::KeySet>(std::move(*result.key_set));
}

}  // namespace

JwtProvider::JwtProvider(const auth::AuthProviderConfig& config, control::ControlPlane* control)
    : AuthProvider(config),
      sources_(config.token_from),
      verifier_(verifier_options(config)),
      cache_(std::make_shared<jwt::TokenCache>()),
      control_(control) {
  if (!config.secret.empty()) {
    static_keys_ = parsed_or_throw(name(), "secret", jwt::KeySet::from_secret(config.secret));
  } else if (!config.public_key.empty()) {
    static_keys_ =
        parsed_or_throw(name(), "public_key",
                        jwt::KeySet::from_pem(read_key_file("public_key", config.public_key)));
  } else if (!config.jwks_file.empty()) {
    static_keys_ = parsed_or_throw(
        name(), "jwks_file", jwt::KeySet::from_jwks(read_key_file("jwks_file", config.jwks_file)));
  } else if (!config.jwks_url.empty()) {
    if (!control) throw std::runtime_error("auth." + name() + ": jwks_url needs the control plane");
    jwt::JwksSource::Options options;
    options.url = config.jwks_url;
    options.name = name();
    // New keys: tokens verified under the old set must be checked again (a rotated-out kid).
    jwks_ =
        std::make_shared<jwt::JwksSource>(std::move(options), [cache = cache_] { cache->clear(); });
    jwks_->start(*control);
  }
}

JwtProvider::~JwtProvider() {
  if (jwks_) jwks_->stop();
}

std::shared_ptr<const jwt::KeySet> JwtProvider::current_keys() const {
  return jwks_ ? jwks_->keys() : static_keys_;
}

auth::AuthResult JwtProvider::check(proxy::RequestContext& ctx, std::string_view token,
                                    Stage stage) const {
  auto now = unix_now();
  auto verified = cache_->find(token, now);
  if (!verified) {
    auto keys = current_keys();
    if (!keys) {
      if (stage == Stage::First) return auth::AuthResult::wait();
      return auth::AuthResult::fail(auth::Failure::UnknownKey);  // no key set could be fetched
    }
    auto result = verifier_.verify(token, *keys, now);
    if (!result.ok()) {
      if (result.failure == jwt::Failure::UnknownKey && jwks_ && stage == Stage::First)
        return auth::AuthResult::wait();
      return auth::AuthResult::fail(to_auth_failure(result.failure));
    }
    verified = result.token;
    cache_->insert(token, verified, now);
  }
  auto& identity = ctx.identity;
  identity.provider = name();
  identity.consumer = verified->subject;
  identity.roles = verified->roles;
  identity.scopes = verified->scopes;
  identity.upstream_headers = verified->forward_headers;
  identity.claims = &verified->claims;
  identity.owner = std::move(verified);
  return auth::AuthResult::pass();
}

auth::AuthResult JwtProvider::authenticate(proxy::RequestContext& ctx) const {
  auto token = sources_.find(*ctx.head);
  if (token.empty()) return auth::AuthResult::fail(auth::Failure::Missing);
  return check(ctx, token, Stage::First);
}

boost::asio::awaitable<auth::AuthResult> JwtProvider::authenticate_async(
    proxy::RequestContext& ctx) const {
  auto token = sources_.find(*ctx.head);
  if (token.empty()) co_return auth::AuthResult::fail(auth::Failure::Missing);
  if (jwks_ && control_) {
    // Runs on the control thread; this coroutine resumes on its worker when it is done.
    co_await boost::asio::co_spawn(control_->executor(), jwks_->refresh_soon(),
                                   boost::asio::use_awaitable);
  }
  co_return check(ctx, token, Stage::AfterRefresh);
}

}  // namespace portico::filters::jwt_auth
