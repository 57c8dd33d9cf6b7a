#include "filters/all_filters.h"

#include <stdexcept>

#include "filters/api_key/api_key_provider.h"
#include "filters/auth/auth_filter.h"
#include "filters/cache/cache_filter.h"
#include "filters/compress/compress_filter.h"
#include "filters/cors/cors_filter.h"
#include "filters/ip_rules/ip_rules_filter.h"
#include "filters/jwt_auth/jwt_provider.h"
#include "filters/oauth2/introspection_provider.h"
#include "filters/rate_limit/rate_limit_filter.h"
#include "filters/rbac/rbac_filter.h"
#include "filters/validate/validate_filter.h"

namespace portico::filters {

AuthProviders build_auth_providers(const config::Config& config, FilterServices& services,
                                   const AuthProviders* previous) {
  AuthProviders providers;
  for (const auto& [name, provider] : config.auth) {
    if (previous) {
      auto it = previous->find(name);
      if (it != previous->end() && it->second->unchanged_for(provider)) {
        providers.emplace(name, it->second);
        continue;
      }
    }
    if (provider.type == "api_key")
      providers.emplace(name, std::make_shared<api_key::ApiKeyProvider>(provider));
    else if (provider.type == "jwt")
      providers.emplace(name, std::make_shared<jwt_auth::JwtProvider>(provider, services.control));
    else if (provider.type == "oauth2_introspection")
      providers.emplace(
          name, std::make_shared<oauth2::IntrospectionProvider>(provider, services.control));
  }
  return providers;
}

std::shared_ptr<rate_limit::RateLimiter> build_rate_limiter(
    const config::Config& config, FilterServices& services,
    const std::shared_ptr<rate_limit::RateLimiter>& previous) {
  return rate_limit::build_rate_limiter(config.rate_limits, previous, services.series);
}

std::shared_ptr<cache::ResponseCache> build_response_cache(
    const config::Config& config, const std::shared_ptr<cache::ResponseCache>& previous) {
  bool wanted = config.cache.has_value();
  for (const auto& route : config.routes) wanted = wanted || route.cache.has_value();
  if (!wanted) return nullptr;
  return cache::build_response_cache(config.cache.value_or(cache::CacheConfig{}), previous);
}

FilterChain build_filter_chain(const config::Config& config, const config::RouteConfig& route,
                               std::string_view route_name, const AuthProviders& providers,
                               const std::shared_ptr<rate_limit::RateLimiter>& rate_limiter,
                               const std::shared_ptr<cache::ResponseCache>& response_cache,
                               FilterServices& services, const FilterChain* previous) {
  std::vector<std::shared_ptr<proxy::Filter>> chain;
  // IP rules first: they need only the address, so a refused client costs nothing more.
  if (route.ip) chain.push_back(std::make_shared<ip_rules::IpRulesFilter>(*route.ip));
  if (route.cors.value_or(false) && config.cors)
    chain.push_back(std::make_shared<cors::CorsFilter>(*config.cors));

  std::vector<std::shared_ptr<const auth::AuthProvider>> route_providers;
  for (const auto& name : route.auth) {
    if (name == "none") continue;
    auto it = providers.find(name);
    if (it == providers.end())
      throw std::runtime_error("auth provider " + name + " is not available in this build");
    route_providers.push_back(it->second);
  }
  const bool authenticated = !route_providers.empty();
  if (authenticated)
    chain.push_back(std::make_shared<auth::AuthFilter>(route_name, std::move(route_providers),
                                                       services.series));

  if (!route.require_roles.empty() || !route.require_scopes.empty())
    chain.push_back(std::make_shared<rbac::RbacFilter>(route_name, route.require_roles,
                                                       route.require_scopes, services.series));

  if (route.rate_limit && !route.rate_limit->empty() && rate_limiter) {
    std::vector<const rate_limit::CompiledPolicy*> policies;
    for (const auto& name : *route.rate_limit) {
      if (const auto* policy = rate_limiter->policy(name)) policies.push_back(policy);
    }
    chain.push_back(std::make_shared<rate_limit::RateLimitFilter>(route_name, std::move(policies),
                                                                  rate_limiter, services.series));
  }

  // Body validation last: only a request every other filter let through has its body read.
  if (route.validate) chain.push_back(std::make_shared<validate::ValidateFilter>(*route.validate));
  // Compression next to last: it sees the answer after every other filter's edits.
  if (route.compress.value_or(false))
    chain.push_back(std::make_shared<compress::CompressFilter>(
        config.compression.value_or(compress::CompressionConfig{})));

  // The cache last: a hit has passed every check above, and what it stores is the answer as
  // the filters before it left it (compressed, say), so a hit costs no work again.
  if (route.cache && response_cache) {
    cache::CacheFilter::Route facts;
    facts.name = std::string(route_name);
    facts.authenticated = authenticated;
    facts.cors = route.cors.value_or(false) && config.cors;
    if (route.compress.value_or(false)) {
      for (const auto& name : config.compression.value_or(compress::CompressionConfig{}).encodings)
        facts.compressed_as.push_back(compress::encoding_from_name(name));
    }
    chain.push_back(std::make_shared<cache::CacheFilter>(std::move(facts), *route.cache,
                                                         response_cache, services.series));
  }

  for (std::size_t i = 0; i < chain.size(); ++i) {
    chain[i]->set_state_slot(i);
    if (previous && i < previous->size() && (*previous)[i]->name() == chain[i]->name())
      chain[i]->carry_state_from(*(*previous)[i]);
  }
  return {chain.begin(), chain.end()};
}

}  // namespace portico::filters
