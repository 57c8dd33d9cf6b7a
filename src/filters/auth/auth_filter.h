// The `auth:` of a route: its providers are asked in turn and any one passing lets the request
// through; otherwise 401 with WWW-Authenticate, the upstream never reached.
#pragma once

#include <memory>
#include <vector>

#include "filters/auth/auth_provider.h"
#include "observability/series.h"
#include "proxy/filter.h"

namespace portico::filters::auth {

class AuthFilter final : public proxy::Filter {
 public:
  // Interns this route's failure series (one per provider and reason) in `series`.
  AuthFilter(std::string_view route, std::vector<std::shared_ptr<const AuthProvider>> providers,
             observability::SeriesRegistry& series);

  std::string_view name() const override { return "auth"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  boost::asio::awaitable<proxy::Next> on_request_async(proxy::RequestContext& ctx) const override;
  // The claims the provider forwards (forward_claims) replace the client's fields of their name.
  void on_upstream_request(proxy::RequestContext& ctx) const override;

 private:
  // Answers 401 for `failure` of provider number `provider`, and counts it.
  proxy::Next refuse(proxy::RequestContext& ctx, std::size_t provider, Failure failure) const;

  std::vector<std::shared_ptr<const AuthProvider>> providers_;
  std::vector<std::array<std::uint32_t, failure_count>> failure_series_;  // [provider][failure]
};

}  // namespace portico::filters::auth
