#include "filters/rbac/rbac_filter.h"

#include <algorithm>

namespace portico::filters::rbac {

namespace {

bool holds(std::span<const std::string> held, const std::string& wanted) {
  return std::find(held.begin(), held.end(), wanted) != held.end();
}

}  // namespace

RbacFilter::RbacFilter(std::string_view route, std::vector<std::string> roles,
                       std::vector<std::string> scopes, observability::SeriesRegistry& series)
    : roles_(std::move(roles)), scopes_(std::move(scopes)) {
  using observability::Family;
  series_[Unauthenticated] = series.id_of(
      Family::AuthFailures, {{"route", route}, {"provider", "rbac"}, {"reason", "missing"}});
  series_[MissingRole] = series.id_of(
      Family::AuthFailures, {{"route", route}, {"provider", "rbac"}, {"reason", "missing_role"}});
  series_[MissingScope] = series.id_of(
      Family::AuthFailures, {{"route", route}, {"provider", "rbac"}, {"reason", "missing_scope"}});
}

proxy::Next RbacFilter::on_request(proxy::RequestContext& ctx) const {
  const auto& identity = ctx.identity;
  auto& reply = ctx.reply;
  if (!identity.authenticated()) {
    // A route that requires roles but names no provider: nobody can hold them.
    ctx.metrics->count(series_[Unauthenticated]);
    reply.status = 401;
    reply.message = "authentication required";
    reply.error_tag = "auth_missing";
    reply.add_header("WWW-Authenticate", "Bearer realm=\"portico\"");
    return proxy::Next::Respond;
  }
  bool role_ok =
      roles_.empty() || std::any_of(roles_.begin(), roles_.end(),
                                    [&](const std::string& r) { return holds(identity.roles, r); });
  bool scopes_ok = std::all_of(scopes_.begin(), scopes_.end(),
                               [&](const std::string& s) { return holds(identity.scopes, s); });
  if (role_ok && scopes_ok) return proxy::Next::Continue;
  ctx.metrics->count(series_[role_ok ? MissingScope : MissingRole]);
  reply.status = 403;
  reply.message = role_ok ? "missing a required scope" : "missing a required role";
  reply.error_tag = "forbidden";
  if (!role_ok) return proxy::Next::Respond;
  // RFC 6750 3.1: a token without the scope the resource needs.
  reply.add_header("WWW-Authenticate", "Bearer realm=\"portico\", error=\"insufficient_scope\"");
  return proxy::Next::Respond;
}

}  // namespace portico::filters::rbac
