// One way to establish who the client is (a JWT, an API key, an introspected token). A route's
// AuthFilter asks its providers in turn; the first that passes sets the request's identity.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/auth/auth_config.h"
#include "proxy/request_context.h"

namespace portico::filters::auth {

// Why a provider did not pass; the `reason` label of portico_auth_failures_total.
enum class Failure : std::uint8_t {
  Missing,              // no credentials where this provider looks
  Malformed,            // not a token at all
  AlgorithmNotAllowed,  // the token's alg is not in the provider's allow-list
  UnknownKey,           // no key for the token's kid
  BadSignature,
  Expired,
  NotYetValid,
  WrongIssuer,
  WrongAudience,
  InvalidKey,           // an API key that is not in the list
  Inactive,             // introspection said active: false
  ProviderUnavailable,  // introspection endpoint unreachable
};
inline constexpr std::size_t failure_count = 12;
std::string_view failure_name(Failure failure);

struct AuthResult {
  enum class Outcome { Pass, Fail, Wait } outcome = Outcome::Fail;
  Failure failure = Failure::Missing;

  static AuthResult pass() { return {Outcome::Pass, Failure::Missing}; }
  static AuthResult fail(Failure f) { return {Outcome::Fail, f}; }
  static AuthResult wait() { return {Outcome::Wait, Failure::Missing}; }
};

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  const std::string& name() const { return config_.name; }

  // Whether a recompile (reload, DNS) may keep this provider, its caches and fetched keys, for
  // `config`: the same config, and key files that still hold what was read from them (a key
  // taken out of a file must not stay trusted through the tokens cached under it).
  bool unchanged_for(const AuthProviderConfig& config) const;

  // Without suspending: Pass (ctx.identity set), Fail, or Wait when it needs I/O.
  virtual AuthResult authenticate(proxy::RequestContext& ctx) const = 0;
  // After Wait: the same question, allowed to suspend. Returns Pass or Fail.
  virtual boost::asio::awaitable<AuthResult> authenticate_async(proxy::RequestContext& ctx) const {
    co_return authenticate(ctx);
  }

 protected:
  explicit AuthProvider(AuthProviderConfig config) : config_(std::move(config)) {}
  // The text of the key file at `path`, remembered for unchanged_for. Throws std::runtime_error
  // naming the provider, its config `key` and the file when it cannot be read.
  const std::string& read_key_file(std::string_view key, const std::string& path);

 private:
  AuthProviderConfig config_;
  std::vector<std::pair<std::string, std::string>> key_files_;  // path, text as read
};

}  // namespace portico::filters::auth
