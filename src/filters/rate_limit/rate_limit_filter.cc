#include "filters/rate_limit/rate_limit_filter.h"

#include <charconv>
#include <cstring>

#include "core/error_body.h"
#include "core/text.h"
#include "observability/series.h"
#include "proxy/request_context.h"
#include "stores/redis/key_slot.h"
#include "stores/redis/redis_clients.h"

namespace portico::filters::rate_limit {

using proxy::Next;
using proxy::RequestContext;

// What one request learnt: the decision of every policy, and the figures the answer shows.
struct RateLimitFilter::State {
  std::array<BucketCheck, kMaxPolicies> checks;
  std::array<GcraDecision, kMaxPolicies> decisions;
  std::string keys;  // every policy's bucket key, back to back (the Redis store sends them)
  std::array<std::size_t, kMaxPolicies + 1> key_ends{};
  int shown = -1;  // the policy closest to refusing (or the one that refused)
  bool refused = false;
  bool decided = false;
  std::string text;  // the header values below point into it
  std::string_view rate_limit, remaining, reset_text, retry_after;

  // The next request on the connection: strings keep their capacity.
  void reset() {
    keys.clear();
    text.clear();
    shown = -1;
    refused = decided = false;
    rate_limit = remaining = reset_text = retry_after = {};
  }
};

namespace {

void append_int(std::string& out, std::int64_t value) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

std::uint64_t hash_of(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

}  // namespace

RateLimitFilter::RateLimitFilter(std::string_view route,
                                 std::vector<const CompiledPolicy*> policies,
                                 std::shared_ptr<RateLimiter> limiter,
                                 observability::SeriesRegistry& series)
    : policies_(std::move(policies)), limiter_(std::move(limiter)) {
  if (policies_.size() > kMaxPolicies) policies_.resize(kMaxPolicies);
  for (const auto* policy : policies_) {
    limit_values_.push_back(std::to_string(policy->limit.burst));
    refused_series_.push_back(series.id_of(observability::Family::RateLimited,
                                           {{"route", route}, {"policy", policy->name}}));
  }
}

std::size_t RateLimitFilter::checks_of(const RequestContext& ctx, State& state, bool local) const {
  state.keys.clear();
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    const auto& policy = *policies_[i];
    std::size_t start = state.keys.size();
    state.keys += policy.identity;
    append_key_value(state.keys, policy.key, ctx);
    state.key_ends[i] = state.keys.size();
    state.checks[i] = {hash_of(std::string_view(state.keys).substr(start)),
                       local ? policy.local_limit : policy.limit};
  }
  return policies_.size();
}

Next RateLimitFilter::on_request(RequestContext& ctx) const {
  if (policies_.empty()) return Next::Continue;
  if (limiter_->shared_store()) return Next::Wait;
  auto& state = ctx.state.get<State>(state_slot());
  std::size_t n = checks_of(ctx, state, false);
  int refused = limiter_->decide_in_memory({state.checks.data(), n}, {state.decisions.data(), n});
  return conclude(ctx, state, refused);
}

boost::asio::awaitable<Next> RateLimitFilter::on_request_async(RequestContext& ctx) const {
  using stores::redis::RedisReply;
  auto& state = ctx.state.get<State>(state_slot());
  auto* clients = ctx.services ? ctx.services->redis : nullptr;
  auto* client = clients ? clients->client_for(*limiter_->redis()) : nullptr;
  if (!client) co_return store_failed(ctx, state);
  std::size_t n = checks_of(ctx, state, false);

  // Buckets in one slot are decided by one script call. A cluster spreads a request's buckets
  // over several nodes: each group is decided in turn, and a refusal by a later group gives
  // back what the earlier ones charged.
  std::vector<std::string> keys(n);
  std::array<int, kMaxPolicies> slot{};
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = "portico:rl:" + policies_[i]->name + ':';
    unsigned char hash[8];
    std::memcpy(hash, &state.checks[i].key_hash, sizeof hash);
    core::append_hex(keys[i], hash);
    slot[i] = limiter_->redis()->cluster.empty() ? 0 : stores::redis::key_slot(keys[i]);
  }
  std::array<bool, kMaxPolicies> done{};
  std::vector<std::size_t> charged;
  int refused = -1;
  for (std::size_t first = 0; first < n && refused < 0; ++first) {
    if (done[first]) continue;
    std::vector<std::size_t> group;
    std::vector<std::string> group_keys, args;
    for (std::size_t i = first; i < n; ++i) {
      if (done[i] || slot[i] != slot[first]) continue;
      done[i] = true;
      group.push_back(i);
      group_keys.push_back(keys[i]);
      args.push_back(
          std::to_string(std::max<std::int64_t>(1, state.checks[i].limit.interval / 1000)));
      args.push_back(std::to_string(state.checks[i].limit.tolerance() / 1000));
    }
    auto result = co_await client->eval(limiter_->gcra_script(), group_keys, std::move(args));
    const auto& reply = result.reply;
    bool well_formed = result.ok() && reply.type == RedisReply::Type::Array &&
                       reply.elements.size() == 1 + 3 * group.size();
    for (const auto& e : reply.elements)
      well_formed = well_formed && e.type == RedisReply::Type::Integer;
    if (!well_formed) {
      limiter_->note_store_state(false, result.ok() ? std::string_view(reply.text)
                                                    : stores::redis::to_string(result.error));
      if (!charged.empty()) co_await refund(*client, keys, state, charged);
      co_return store_failed(ctx, state);
    }
    for (std::size_t g = 0; g < group.size(); ++g) {
      auto& d = state.decisions[group[g]];
      d.remaining = reply.elements[1 + 3 * g].integer;
      d.retry_after = reply.elements[2 + 3 * g].integer * 1000;
      d.reset = reply.elements[3 + 3 * g].integer * 1000;
      d.allowed = d.retry_after == 0;
    }
    if (auto at = reply.elements[0].integer; at > 0) {
      refused = static_cast<int>(group[static_cast<std::size_t>(at - 1)]);
      if (!charged.empty()) co_await refund(*client, keys, state, charged);
    } else {
      charged.insert(charged.end(), group.begin(), group.end());
    }
  }
  limiter_->note_store_state(true);
  co_return conclude(ctx, state, refused);
}

boost::asio::awaitable<void> RateLimitFilter::refund(
    stores::redis::RedisClient& client, const std::vector<std::string>& keys, const State& state,
    const std::vector<std::size_t>& charged) const {
  for (std::size_t i : charged) {
    // Built before the co_await: GCC 12 miscompiles braced lists inside one.
    std::vector<std::string> key(1, keys[i]);
    std::vector<std::string> interval(
        1, std::to_string(std::max<std::int64_t>(1, state.checks[i].limit.interval / 1000)));
    co_await client.eval(limiter_->refund_script(), std::move(key), std::move(interval));
  }
}

Next RateLimitFilter::store_failed(RequestContext& ctx, State& state) const {
  ctx.metrics->count(limiter_->store_error_series());
  switch (limiter_->on_store_error()) {
    case StoreError::Allow:
      return Next::Continue;
    case StoreError::Deny: {
      state.decided = state.refused = false;
      ctx.reply.set_error(429, "rate limit store unavailable", "rate_limit_store_error",
                          {"Retry-After", "1"});
      std::string body;
      core::append_error_body(body, 429, "rate limit store unavailable", ctx.request_id);
      body.insert(body.size() - 1, ",\"retry_after\":1");
      ctx.reply.set_body(std::move(body), "application/json");
      return Next::Respond;
    }
    case StoreError::Local: {
      std::size_t n = checks_of(ctx, state, true);
      int refused = limiter_->decide_locally({state.checks.data(), n}, {state.decisions.data(), n});
      return conclude(ctx, state, refused);
    }
  }
  return Next::Continue;
}

Next RateLimitFilter::conclude(RequestContext& ctx, State& state, int refused) const {
  state.decided = true;
  state.refused = refused >= 0;
  if (state.refused) {
    state.shown = refused;
  } else {
    state.shown = 0;
    for (std::size_t i = 1; i < policies_.size(); ++i)
      if (state.decisions[i].remaining < state.decisions[state.shown].remaining)
        state.shown = static_cast<int>(i);
  }
  const auto& policy = *policies_[state.shown];
  const auto& d = state.decisions[state.shown];
  std::int64_t retry = ceil_seconds(d.retry_after);
  // Refused: the quota is back (for this request) after Retry-After; else when it is full.
  std::int64_t reset = state.refused ? retry : ceil_seconds(d.reset);
  auto& text = state.text;
  text.clear();
  text += '"';
  text += policy.name;
  text += "\";r=";
  append_int(text, d.remaining);
  text += ";t=";
  append_int(text, reset);
  std::size_t rate_end = text.size();
  append_int(text, d.remaining);
  std::size_t remaining_end = text.size();
  append_int(text, reset);
  std::size_t reset_end = text.size();
  append_int(text, retry);
  std::string_view all = text;
  state.rate_limit = all.substr(0, rate_end);
  state.remaining = all.substr(rate_end, remaining_end - rate_end);
  state.reset_text = all.substr(remaining_end, reset_end - remaining_end);
  state.retry_after = all.substr(reset_end);
  if (!state.refused) return Next::Continue;

  ctx.metrics->count(refused_series_[state.shown]);
  ctx.reply.set_error(429, "rate limit exceeded", policy.refused_tag);
  std::string body;
  core::append_error_body(body, 429, "rate limit exceeded", ctx.request_id);
  body.insert(body.size() - 1, ",\"retry_after\":" + std::string(state.retry_after));
  ctx.reply.set_body(std::move(body), "application/json");
  return Next::Respond;
}

Next RateLimitFilter::on_response(RequestContext& ctx, core::ResponseHead& head) const {
  auto* state = ctx.state.find<State>(state_slot());
  if (!state || !state->decided) return Next::Continue;
  const auto& policy = *policies_[state->shown];
  head.add("RateLimit-Policy", policy.policy_header);
  head.add("RateLimit", state->rate_limit);
  head.add("X-RateLimit-Limit", limit_values_[state->shown]);
  head.add("X-RateLimit-Remaining", state->remaining);
  head.add("X-RateLimit-Reset", state->reset_text);
  if (state->refused && head.status == 429) head.add("Retry-After", state->retry_after);
  return Next::Continue;
}

}  // namespace portico::filters::rate_limit
