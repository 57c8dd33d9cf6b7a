#include "filters/auth/auth_filter.h"

namespace portico::filters::auth {

namespace {

constexpr std::array<std::string_view, failure_count> failure_names = {
    "missing",  "malformed",           "algorithm_not_allowed", "unknown_key",    "bad_signature",
    "expired",  "not_yet_valid",       "wrong_issuer",          "wrong_audience", "invalid_key",
    "inactive", "provider_unavailable"};

}  // namespace

std::string_view failure_name(Failure failure) {
  return failure_names[static_cast<std::size_t>(failure)];
}

AuthFilter::AuthFilter(std::string_view route,
                       std::vector<std::shared_ptr<const AuthProvider>> providers,
                       observability::SeriesRegistry& series)
    : providers_(std::move(providers)) {
  for (const auto& provider : providers_) {
    auto& ids = failure_series_.emplace_back();
    for (std::size_t f = 0; f < failure_count; ++f)
      ids[f] = series.id_of(
          observability::Family::AuthFailures,
          {{"route", route}, {"provider", provider->name()}, {"reason", failure_names[f]}});
  }
}

proxy::Next AuthFilter::on_request(proxy::RequestContext& ctx) const {
  // The failure reported is the most telling one: a presented-but-bad credential outranks
  // a provider that found nothing to check.
  std::size_t failed_provider = 0;
  Failure failure = Failure::Missing;
  for (std::size_t i = 0; i < providers_.size(); ++i) {
    auto result = providers_[i]->authenticate(ctx);
    if (result.outcome == AuthResult::Outcome::Pass) return proxy::Next::Continue;
    if (result.outcome == AuthResult::Outcome::Wait) return proxy::Next::Wait;
    if (failure == Failure::Missing && result.failure != Failure::Missing) {
      failure = result.failure;
      failed_provider = i;
    }
  }
  return refuse(ctx, failed_provider, failure);
}

boost::asio::awaitable<proxy::Next> AuthFilter::on_request_async(proxy::RequestContext& ctx) const {
  std::size_t failed_provider = 0;
  Failure failure = Failure::Missing;
  for (std::size_t i = 0; i < providers_.size(); ++i) {
    auto result = providers_[i]->authenticate(ctx);
    if (result.outcome == AuthResult::Outcome::Wait)
      result = co_await providers_[i]->authenticate_async(ctx);
    if (result.outcome == AuthResult::Outcome::Pass) co_return proxy::Next::Continue;
    if (failure == Failure::Missing && result.failure != Failure::Missing) {
      failure = result.failure;
      failed_provider = i;
    }
  }
  co_return refuse(ctx, failed_provider, failure);
}

void AuthFilter::on_upstream_request(proxy::RequestContext& ctx) const {
  for (const auto& [name, value] : ctx.identity.upstream_headers)
    ctx.upstream_edits.set.push_back({name, value});
}

proxy::Next AuthFilter::refuse(proxy::RequestContext& ctx, std::size_t provider,
                               Failure failure) const {
  ctx.identity = {};
  ctx.metrics->count(failure_series_[provider][static_cast<std::size_t>(failure)]);
  auto& reply = ctx.reply;
  reply.status = 401;
  reply.error_tag = failure == Failure::Missing ? "auth_missing" : "auth_invalid";
  if (failure == Failure::Missing) {
    reply.message = "authentication required";
    reply.add_header("WWW-Authenticate", "Bearer realm=\"portico\"");
  } else {
    reply.message = failure == Failure::ProviderUnavailable ? "credentials could not be verified"
                                                            : "invalid credentials";
    reply.add_header("WWW-Authenticate", "Bearer realm=\"portico\", error=\"invalid_token\"");
  }
  return proxy::Next::Respond;
}

}  // namespace portico::filters::auth
