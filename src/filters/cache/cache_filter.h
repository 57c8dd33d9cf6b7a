// The response cache of one route (behaviour.md "Cache"). It runs after every filter that may
// refuse the request (ip, auth, rbac, rate limits), so a hit never skips them, and after the
// compressor, so what it stores is what the client was sent: one entry per encoding.
//
//   on_request   GET/HEAD only; the key; a fresh entry answers (304 for a matching
//                conditional); a stale one within stale_while_revalidate answers STALE and
//                asks for a background refresh; else the first miss fills, later ones wait
//                (lock_timeout) for its answer.
//   on_response  the upstream's answer: stale_if_error swaps a 5xx for the stale entry; a
//                storable answer starts being kept.
//   on_body      the body is kept as it is relayed, up to max_object_size.
//   on_complete  the fill ends: waiters are told how.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/route_config.h"
#include "filters/cache/response_cache.h"
#include "filters/compress/accept_encoding.h"
#include "observability/series.h"
#include "proxy/filter.h"

namespace portico::filters::cache {

class CacheFilter final : public proxy::Filter {
 public:
  // What the cache needs to know of its route besides its `cache:` settings.
  struct Route {
    std::string name;
    bool authenticated = false;  // the route has `auth`: entries are per consumer unless shared
    bool cors = false;           // the route's cors filter adds Access-Control-* to every answer
    // The route's compression preference (empty when it does not compress): entries that vary
    // by Accept-Encoding are keyed by the encoding it picks, not by the header's exact text, so
    // there is one entry per encoding.
    std::vector<compress::Encoding> compressed_as;
  };
  CacheFilter(Route route, const config::RouteCacheConfig& config,
              std::shared_ptr<ResponseCache> cache, observability::SeriesRegistry& series);

  std::string_view name() const override { return "cache"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  boost::asio::awaitable<proxy::Next> on_request_async(proxy::RequestContext& ctx) const override;
  void on_upstream_request(proxy::RequestContext& ctx) const override;
  proxy::Next on_response(proxy::RequestContext& ctx, core::ResponseHead& head) const override;
  void on_body(proxy::RequestContext& ctx, proxy::BodyChunk& chunk) const override;
  void on_complete(proxy::RequestContext& ctx) const override;
  void carry_state_from(const proxy::Filter& previous) override;

  struct State;

 private:
  void key_of(const proxy::RequestContext& ctx, std::string& out) const;
  void append_vary_value(const proxy::RequestContext& ctx, std::string_view name,
                         std::string& out) const;
  void vary_key_of(const proxy::RequestContext& ctx, const std::vector<std::string>& names,
                   std::string& out) const;
  AnswerPtr find_in_memory(const proxy::RequestContext& ctx, State& state) const;
  proxy::Next decide(proxy::RequestContext& ctx, State& state, AnswerPtr entry) const;
  void serve(proxy::RequestContext& ctx, State& state, AnswerPtr entry,
             std::string_view result) const;
  bool start_keeping(proxy::RequestContext& ctx, State& state,
                     const core::ResponseHead& head) const;
  void finish_keeping(proxy::RequestContext& ctx, State& state) const;
  void end_fill(State& state) const;

  bool accepts_stored_encoding(const proxy::RequestContext& ctx, const CachedAnswer& entry) const;
  void release_early(State& state) const;

  Route route_;
  config::RouteCacheConfig config_;
  bool per_consumer_;
  std::string route_tag_;  // name and settings: entries of other settings are never served
  std::shared_ptr<ResponseCache> cache_;
  std::uint32_t hit_series_, miss_series_, stale_series_, bypass_series_;
};

}  // namespace portico::filters::cache
