#include "filters/oauth2/introspection_provider.h"

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "control/http_client.h"
#include "core/log.h"
#include "filters/auth/credential_source.h"

namespace portico::filters::oauth2 {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_cached_tokens = 10000;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string form_encode(std::string_view value) {
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(bytes.data()),
                           static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

struct IntrospectionProvider::Shared {
  std::string name;
  std::string url;
  std::string authorization;  // "Basic ..." (RFC 6749 2.3.1: form-encoded id and secret)
  std::chrono::seconds cache_ttl;
  auth::CredentialSources sources{{}};

  // Workers read and fill the cache; a lock held for a lookup only.
  std::mutex mutex;
  // Looked up by the token's string_view: a hit costs no copy of the token.
  struct TokenHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view token) const {
      return std::hash<std::string_view>{}(token);
    }
  };
  std::unordered_map<std::string, std::shared_ptr<const Introspection>, TokenHash, std::equal_to<>>
      cache;

  // Control thread only: the call in flight per token, joined by later requests for it.
  struct Call {
    asio::steady_timer done;
    std::shared_ptr<const Introspection> answer;
    explicit Call(asio::any_io_executor ex) : done(ex, Clock::time_point::max()) {}
  };
  std::unordered_map<std::string, std::shared_ptr<Call>> in_flight;

  std::shared_ptr<const Introspection> cached(std::string_view token) {
    std::lock_guard lock{mutex};
    auto it = cache.find(token);
    if (it == cache.end()) return nullptr;
    if (it->second->cache_until <= Clock::now()) {
      cache.erase(it);
      return nullptr;
    }
    return it->second;
  }

  void remember(const std::string& token, std::shared_ptr<const Introspection> answer) {
    if (answer->cache_until <= Clock::now()) return;
    std::lock_guard lock{mutex};
    // Bounded: when full, the expired go first, and if none has, everything (a rare event that
    // only costs fresh calls).
    if (cache.size() >= max_cached_tokens) {
      auto now = Clock::now();
      std::erase_if(cache, [&](const auto& entry) { return entry.second->cache_until <= now; });
      if (cache.size() >= max_cached_tokens) cache.clear();
    }
    cache[token] = std::move(answer);
  }

  // On the control thread: one call per token at a time.
  asio::awaitable<std::shared_ptr<const Introspection>> lookup(std::string token) {
    if (auto answer = cached(token)) co_return answer;
    if (auto it = in_flight.find(token); it != in_flight.end()) {
      auto call = it->second;
      co_await call->done.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return call->answer;
    }
    auto call = std::make_shared<Call>(co_await asio::this_coro::executor);
    in_flight.emplace(token, call);

    control::HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.timeout = std::chrono::milliseconds(5000);
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"},
                       {"Authorization", authorization}};
    request.body = "token=" + form_encode(token) + "&token_type_hint=access_token";
    control::HttpClient client;
    auto result = co_await client.fetch(std::move(request));
    if (!result.ok() || result.status != 200) {
      core::log_warn("auth " + name + ": introspection at " + url + " failed: " +
                     (result.ok() ? "status " + std::to_string(result.status) : result.error));
    } else {
      call->answer = parse_introspection(result.body, unix_now(), cache_ttl);
      remember(token, call->answer);
    }
    in_flight.erase(token);
    call->done.cancel();
    co_return call->answer;
  }
};

std::shared_ptr<const Introspection> parse_introspection(std::string_view body,
                                                         std::int64_t now_unix,
                                                         std::chrono::seconds cache_ttl) {
  auto answer = std::make_shared<Introspection>();
  // An inactive token does not become active: the answer is kept a little while too, so a
  // client retrying a revoked token does not become a call per request to the server.
  answer->cache_until = Clock::now() + std::min(cache_ttl, std::chrono::seconds(30));
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return answer;
  const auto& object = value.get_object();
  const auto* active = object.if_contains("active");
  if (!active || !active->is_bool() || !active->get_bool()) return answer;
  auto ttl = cache_ttl;
  if (const auto* exp = object.if_contains("exp")) {
    std::int64_t at = exp->is_int64()    ? exp->get_int64()
                      : exp->is_uint64() ? static_cast<std::int64_t>(exp->get_uint64())
                      : exp->is_double() ? static_cast<std::int64_t>(exp->get_double())
                                         : now_unix;
    if (at <= now_unix) return answer;  // an active token past its exp is not believed
    ttl = std::min(ttl, std::chrono::seconds(at - now_unix));
  }
  answer->active = true;
  answer->cache_until = Clock::now() + ttl;
  for (auto key : {"sub", "username", "client_id"}) {
    if (const auto* v = object.if_contains(key); v && v->is_string()) {
      answer->subject = v->get_string();
      break;
    }
  }
  if (const auto* scope = object.if_contains("scope"); scope && scope->is_string()) {
    std::string_view text = scope->get_string();
    while (!text.empty()) {
      auto space = text.find(' ');
      if (space != 0) answer->scopes.emplace_back(text.substr(0, space));
      if (space == std::string_view::npos) break;
      text.remove_prefix(space + 1);
    }
  }
  return answer;
}

IntrospectionProvider::IntrospectionProvider(const auth::AuthProviderConfig& config,
                                             control::ControlPlane* control)
    : AuthProvider(config), shared_(std::make_shared<Shared>()), control_(control) {
  if (!control)
    throw std::runtime_error("auth." + name() + ": introspection needs the control plane");
  shared_->name = config.name;
  shared_->url = config.url;
  shared_->authorization =
      "Basic " + base64(form_encode(config.client_id) + ":" + form_encode(config.client_secret));
  shared_->cache_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.cache_ttl);
}

auth::AuthResult IntrospectionProvider::from(proxy::RequestContext& ctx,
                                             std::shared_ptr<const Introspection> answer) const {
  if (!answer) return auth::AuthResult::fail(auth::Failure::ProviderUnavailable);
  if (!answer->active) return auth::AuthResult::fail(auth::Failure::Inactive);
  auto& identity = ctx.identity;
  identity.provider = name();
  identity.consumer = answer->subject;
  identity.scopes = answer->scopes;
  identity.owner = std::move(answer);
  return auth::AuthResult::pass();
}

auth::AuthResult IntrospectionProvider::authenticate(proxy::RequestContext& ctx) const {
  auto token = shared_->sources.find(*ctx.head);
  if (token.empty()) return auth::AuthResult::fail(auth::Failure::Missing);
  if (auto answer = shared_->cached(token)) return from(ctx, std::move(answer));
  return auth::AuthResult::wait();
}

asio::awaitable<auth::AuthResult> IntrospectionProvider::authenticate_async(
    proxy::RequestContext& ctx) const {
  auto token = shared_->sources.find(*ctx.head);
  if (token.empty()) co_return auth::AuthResult::fail(auth::Failure::Missing);
  auto answer = co_await asio::co_spawn(control_->executor(), shared_->lookup(std::string(token)),
                                        asio::use_awaitable);
  co_return from(ctx, std::move(answer));
}

}  // namespace portico::filters::oauth2
