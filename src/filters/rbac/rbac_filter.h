// `require_roles` (any one) and `require_scopes` (all) of a route, checked against the identity
// authentication established: 401 when there is none, 403 when it lacks them.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "observability/series.h"
#include "proxy/filter.h"

namespace portico::filters::rbac {

class RbacFilter final : public proxy::Filter {
 public:
  RbacFilter(std::string_view route, std::vector<std::string> roles,
             std::vector<std::string> scopes, observability::SeriesRegistry& series);

  std::string_view name() const override { return "rbac"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;

 private:
  enum Reason { Unauthenticated, MissingRole, MissingScope };
  std::vector<std::string> roles_;
  std::vector<std::string> scopes_;
  std::array<std::uint32_t, 3> series_;  // by Reason
};

}  // namespace portico::filters::rbac
