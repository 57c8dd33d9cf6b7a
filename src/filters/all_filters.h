// The one place that knows every filter kind: builds the auth providers of a config and the
// filter chain of each route, in the order filters run.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/auth/auth_provider.h"
#include "filters/cache/response_cache.h"
#include "filters/rate_limit/rate_limiter.h"
#include "observability/series.h"
#include "proxy/filter.h"

namespace portico::control {
class ControlPlane;
}

namespace portico::filters {

using FilterChain = std::vector<std::shared_ptr<const proxy::Filter>>;
using AuthProviders = std::map<std::string, std::shared_ptr<auth::AuthProvider>, std::less<>>;

// What building filters may use from the process.
struct FilterServices {
  observability::SeriesRegistry& series;
  control::ControlPlane* control = nullptr;  // background fetches (JWKS, introspection)
};

// Every `auth:` provider. `previous`: the providers of the snapshot being replaced (reload, DNS
// recompile); one that is unchanged (AuthProvider::unchanged_for) is taken as it is, with its
// caches, fetched JWKS and background refresh. Throws std::runtime_error for what only building
// can see (a key file that cannot be read or parsed).
AuthProviders build_auth_providers(const config::Config& config, FilterServices& services,
                                   const AuthProviders* previous = nullptr);

// The process's rate limiter (null without `rate_limits:`); `previous`'s memory store, and so
// the buckets of every unchanged policy, carry over.
std::shared_ptr<rate_limit::RateLimiter> build_rate_limiter(
    const config::Config& config, FilterServices& services,
    const std::shared_ptr<rate_limit::RateLimiter>& previous);

// The process's response cache (null when neither `cache:` nor any route asks for one);
// `previous`'s store, entries and all, carries over while `cache:` is unchanged.
std::shared_ptr<cache::ResponseCache> build_response_cache(
    const config::Config& config, const std::shared_ptr<cache::ResponseCache>& previous);

// The filters of `route` in the order they run: ip rules, cors preflight, auth, rbac, rate
// limits, validation, and around the answer compression, then the cache.
// `previous`: the chain of the route of that name in the snapshot being replaced (reload, DNS
// recompile), whose filters hand their long-lived state to the new ones of the same kind at the
// same place.
FilterChain build_filter_chain(const config::Config& config, const config::RouteConfig& route,
                               std::string_view route_name, const AuthProviders& providers,
                               const std::shared_ptr<rate_limit::RateLimiter>& rate_limiter,
                               const std::shared_ptr<cache::ResponseCache>& response_cache,
                               FilterServices& services, const FilterChain* previous = nullptr);

}  // namespace portico::filters
