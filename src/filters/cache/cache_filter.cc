#include "filters/cache/cache_filter.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <utility>

#include "core/ascii.h"
#include "filters/cache/cache_headers.h"
#include "proxy/request_body.h"
#include "stores/redis/redis_clients.h"

namespace portico::filters::cache {

namespace asio = boost::asio;
using proxy::Next;
using proxy::RequestContext;

namespace {

constexpr char kPart = '\x1f';  // between the parts of a key
constexpr char kVary = '\x1e';  // between a key and the values of the upstream's Vary names

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t to_ms(config::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// Every field of that name, joined: Cache-Control and Vary may come in several.
std::string joined(const std::vector<core::HeaderField>& fields, std::string_view name) {
  std::string out;
  for (const auto& f : fields) {
    if (!core::iequals(f.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += f.value;
  }
  return out;
}

bool stored_status(int status) {
  return status == 200 || status == 203 || status == 204 || status == 301 || status == 404 ||
         status == 410;
}

bool server_error(int status) {
  return status >= 500 && status <= 599;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && core::iequals(text.substr(0, prefix.size()), prefix);
}

// Fields that belong to one answer, not to what is stored: the framing, what this filter and
// the filters around it add to every answer anew (request id, rate limits, CORS).
bool per_answer_field(std::string_view name, std::string_view request_id_header) {
  static constexpr std::string_view skipped[] = {"connection",
                                                 "keep-alive",
                                                 "transfer-encoding",
                                                 "content-length",
                                                 "age",
                                                 "x-cache",
                                                 "ratelimit",
                                                 "ratelimit-policy",
                                                 "x-ratelimit-limit",
                                                 "x-ratelimit-remaining",
                                                 "x-ratelimit-reset",
                                                 "retry-after",
                                                 "set-cookie",
                                                 "proxy-authenticate",
                                                 "trailer",
                                                 "upgrade"};
  for (auto s : skipped)
    if (core::iequals(name, s)) return true;
  return core::iequals(name, request_id_header);
}

// A 304 carries only these of the entry's fields (RFC 9110 15.4.5).
bool not_modified_field(std::string_view name) {
  for (auto s :
       {"etag", "cache-control", "expires", "vary", "content-location", "date", "last-modified"})
    if (core::iequals(name, s)) return true;
  return false;
}

}  // namespace

struct CacheFilter::State {
  std::string key;         // the primary key: what the fill lock and a Vary marker sit under
  std::string answer_key;  // where the answer is (the primary key, or it and Vary values)
  AnswerPtr served;        // the entry this request is answered from (kept alive for the reply)
  AnswerPtr stale;         // an expired entry that stale_if_error may still serve
  std::shared_ptr<FillWaiter> waiter;
  std::chrono::steady_clock::time_point wait_until{};
  bool filling = false;            // this request holds the key's fill lock
  bool handed_to_refresh = false;  // ... and passed it to the background refresh
  bool keeping = false;            // the answer is being kept, to store when it ends
  bool revalidate = false;         // the client asked for no-cache: no stored answer serves it
  FillOutcome outcome = FillOutcome::Failed;
  std::shared_ptr<CachedAnswer> building;
  std::string age;
  std::string_view result;     // HIT, MISS, STALE, BYPASS
  FillLocks* locks = nullptr;  // whose lock `filling` holds

  // However the request ended (a thrown exception, a connection dropped before on_complete),
  // a fill lock it still holds is released: a leaked one would hold every later miss of the
  // key for lock_timeout.
  void drop_lock() {
    if (filling && !handed_to_refresh && locks) locks->release(key, FillOutcome::Failed);
    filling = false;
  }
  ~State() { drop_lock(); }

  void reset() {
    drop_lock();
    key.clear();
    answer_key.clear();
    served.reset();
    stale.reset();
    waiter.reset();
    wait_until = {};
    filling = handed_to_refresh = keeping = revalidate = false;
    outcome = FillOutcome::Failed;
    building.reset();
    result = {};
  }
};

CacheFilter::CacheFilter(Route route, const config::RouteCacheConfig& config,
                         std::shared_ptr<ResponseCache> cache,
                         observability::SeriesRegistry& series)
    : route_(std::move(route)),
      config_(config),
      per_consumer_(route_.authenticated && !config.shared),
      cache_(std::move(cache)) {
  // Lower case, as the upstream's Vary names are kept: the two lists are compared.
  for (auto& name : config_.vary)
    for (auto& c : name) c = core::ascii_lower(c);
  route_tag_ = route_.name + '#' + std::to_string(to_ms(config_.ttl)) + ',' +
               std::to_string(to_ms(config_.stale_while_revalidate)) + ',' +
               std::to_string(to_ms(config_.stale_if_error)) + ',' +
               (per_consumer_ ? "consumer" : "shared");
  for (const auto& name : config_.vary) route_tag_ += ',' + name;
  using observability::Family;
  auto series_of = [&](std::string_view result) {
    return series.id_of(Family::CacheRequests, {{"route", route_.name}, {"result", result}});
  };
  hit_series_ = series_of("hit");
  miss_series_ = series_of("miss");
  stale_series_ = series_of("stale");
  bypass_series_ = series_of("bypass");
}

void CacheFilter::carry_state_from(const proxy::Filter& previous) {
  // The store outlives the snapshot; only a change of this route's settings leaves entries
  // behind, which no request of the new settings can reach: they are dropped now.
  const auto& before = static_cast<const CacheFilter&>(previous);
  if (before.route_tag_ != route_tag_ && before.cache_ == cache_)
    cache_->drop_route(before.route_tag_);
}

// The key: path and query byte for byte, the host, the route and its settings, the consumer
// where entries are per consumer, and the route's `vary` headers.
void CacheFilter::key_of(const RequestContext& ctx, std::string& out) const {
  const auto& head = *ctx.head;
  out.clear();
  out.append(head.raw_path);
  if (head.has_query) {
    out += '?';
    out.append(head.query);
  }
  out += kPart;
  // The scheme: an upstream may answer http and https differently (a redirect to https).
  if (ctx.tls)
    out += "https";
  else if (ctx.peer_trusted && !head.find("x-forwarded-proto").empty())
    for (char c : head.find("x-forwarded-proto")) out += core::ascii_lower(c);
  else
    out += "http";
  out += kPart;
  for (char c : head.find("host")) out += core::ascii_lower(c);
  out += kPart;
  out += route_tag_;
  if (per_consumer_) {
    out += kPart;
    out += "consumer=";
    out.append(ctx.identity.provider);
    out += ':';
    out.append(ctx.identity.consumer);
  }
  for (const auto& name : config_.vary) {
    out += kPart;
    out += name;
    out += '=';
    append_vary_value(ctx, name, out);
  }
}

void CacheFilter::append_vary_value(const RequestContext& ctx, std::string_view name,
                                    std::string& out) const {
  if (!route_.compressed_as.empty() && name == "accept-encoding") {
    out += compress::encoding_name(compress::negotiate(ctx.head->find(name), route_.compressed_as));
    return;
  }
  out.append(ctx.head->find(name));
}

void CacheFilter::vary_key_of(const RequestContext& ctx, const std::vector<std::string>& names,
                              std::string& out) const {
  out += kVary;
  for (const auto& name : names) {
    out += name;
    out += '=';
    append_vary_value(ctx, name, out);
    out += kPart;
  }
}

AnswerPtr CacheFilter::find_in_memory(const RequestContext& ctx, State& state) const {
  auto* store = cache_->memory();
  auto entry = store->find(state.key);
  state.answer_key = state.key;
  if (entry && entry->vary_marker) {
    vary_key_of(ctx, entry->vary, state.answer_key);
    entry = store->find(state.answer_key);
  }
  return entry;
}

Next CacheFilter::on_request(RequestContext& ctx) const {
  auto& state = ctx.state.get<State>(state_slot());
  const auto& head = *ctx.head;
  auto directives = parse_cache_control(head.find("cache-control"));
  // A GET with a body may be answered by what the body says, which the key does not hold; a
  // consumer-keyed route whose identity names no consumer has no key to keep apart.
  bool has_body = ctx.body && (ctx.body->chunked() || ctx.body->length().value_or(0) > 0);
  if ((head.method != "GET" && head.method != "HEAD") || directives.no_store || ctx.upgrade ||
      has_body || (per_consumer_ && ctx.identity.consumer.empty())) {
    state.result = ctx.cache_result = "BYPASS";
    return Next::Continue;
  }
  state.revalidate = directives.no_cache;
  key_of(ctx, state.key);
  if (cache_->uses_redis()) return Next::Wait;
  return decide(ctx, state, state.revalidate ? nullptr : find_in_memory(ctx, state));
}

Next CacheFilter::decide(RequestContext& ctx, State& state, AnswerPtr entry) const {
  auto now = now_ms();
  if (entry && !accepts_stored_encoding(ctx, *entry)) entry = nullptr;
  if (entry && now < entry->fresh_until_ms) {
    serve(ctx, state, std::move(entry), "HIT");
    return Next::Respond;
  }
  if (entry && now < entry->stale_while_revalidate_until_ms) {
    // One refresh at a time: whoever holds the key's fill lock is already fetching it. A HEAD
    // would bring back no body to store: it leaves the refresh to a GET.
    if (ctx.head->method == "GET" && cache_->locks().try_acquire(state.key)) {
      state.filling = state.handed_to_refresh = true;
      state.locks = &cache_->locks();
      ctx.refresh_in_background = true;
    }
    serve(ctx, state, std::move(entry), "STALE");
    return Next::Respond;
  }
  if (entry && now < entry->stale_if_error_until_ms) state.stale = entry;
  // HEAD is answered from GET entries but never fills one: it would bring back no body.
  if (ctx.head->method == "HEAD") {
    state.result = ctx.cache_result = "MISS";
    return Next::Continue;
  }

  if (!state.waiter) state.waiter = std::make_shared<FillWaiter>(ctx.services->io.get_executor());
  state.waiter->outcome = FillOutcome::Pending;
  state.waiter->answer.reset();
  if (cache_->locks().acquire_or_wait(state.key, state.waiter)) {
    state.waiter.reset();
    state.filling = true;
    state.locks = &cache_->locks();
    state.result = ctx.cache_result = "MISS";
    return Next::Continue;
  }
  if (state.wait_until == std::chrono::steady_clock::time_point{})
    state.wait_until =
        std::chrono::steady_clock::now() + config::Duration(cache_->config().lock_timeout);
  return Next::Wait;
}

asio::awaitable<Next> CacheFilter::on_request_async(RequestContext& ctx) const {
  auto& state = *ctx.state.find<State>(state_slot());
  for (int round = 0; round < 64; ++round) {
    if (state.waiter) {
      auto waiter = state.waiter;
      if (waiter->outcome == FillOutcome::Pending) {
        waiter->timer.expires_at(state.wait_until);
        co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      auto outcome = waiter->outcome;
      if (outcome == FillOutcome::Pending) {
        // The fill took longer than lock_timeout: this request goes upstream itself (and
        // may store what it gets, without holding the lock).
        waiter->outcome = FillOutcome::Failed;
        state.waiter.reset();
        state.result = ctx.cache_result = "MISS";
        co_return Next::Continue;
      }
      if (outcome == FillOutcome::Failed && state.stale &&
          now_ms() < state.stale->stale_if_error_until_ms) {
        // The fill failed (the upstream is failing): the stale entry is what this request
        // would end up with anyway.
        state.waiter.reset();
        serve(ctx, state, state.stale, "STALE");
        co_return Next::Respond;
      }
      if (outcome == FillOutcome::NotStorable) {
        state.waiter.reset();
        state.result = ctx.cache_result = "MISS";
        co_return Next::Continue;
      }
      if (outcome == FillOutcome::Stored && waiter->answer) {
        // The answer the filler stored is this request's when its Vary values lead to it.
        std::string mine = state.key;
        if (!waiter->answer->vary.empty()) vary_key_of(ctx, waiter->answer->vary, mine);
        if (mine == waiter->answer_key) {
          auto answer = std::move(waiter->answer);
          state.waiter.reset();
          co_return decide(ctx, state, std::move(answer));
        }
      }
    }
    AnswerPtr entry;
    if (!state.revalidate) {
      if (cache_->uses_redis()) {
        entry = co_await cache_->redis_find(*ctx.services->redis, state.key);
        state.answer_key = state.key;
        if (entry && entry->vary_marker) {
          vary_key_of(ctx, entry->vary, state.answer_key);
          entry = co_await cache_->redis_find(*ctx.services->redis, state.answer_key);
        }
      } else {
        entry = find_in_memory(ctx, state);
      }
    }
    auto next = decide(ctx, state, std::move(entry));
    if (next != Next::Wait) co_return next;
  }
  state.result = ctx.cache_result = "MISS";
  co_return Next::Continue;
}

void CacheFilter::serve(RequestContext& ctx, State& state, AnswerPtr entry,
                        std::string_view result) const {
  const auto& head = *ctx.head;
  auto now = now_ms();
  bool not_modified = false;
  auto if_none_match = head.find("if-none-match");
  if (entry->status < 200 || entry->status > 299) {
    // Conditionals apply to successful answers only (RFC 9110 13.2.1).
  } else if (!if_none_match.empty()) {
    not_modified = none_match_hits(if_none_match, entry->header("etag"));
  } else if (auto since = parse_http_date(head.find("if-modified-since"))) {
    auto modified = parse_http_date(entry->header("last-modified"));
    not_modified = modified && *modified <= *since;
  }
  auto& reply = ctx.reply;
  reply.set_stored(not_modified ? 304 : entry->status, entry);
  for (const auto& [name, value] : entry->headers)
    if (!not_modified || not_modified_field(name)) reply.stored_fields.push_back({name, value});
  state.age = std::to_string(entry->age_seconds(now));
  reply.stored_fields.push_back({"Age", state.age});
  reply.stored_fields.push_back({"X-Cache", result});
  if (!not_modified) reply.stored_body = entry->body;
  state.served = std::move(entry);
  state.result = ctx.cache_result = result;
}

void CacheFilter::on_upstream_request(RequestContext& ctx) const {
  // A fill asks for the whole answer: the client's conditionals are the cache's to answer.
  // A background refresh is a fill too (its state is made when its answer arrives).
  auto* state = ctx.state.find<State>(state_slot());
  if (!ctx.background && (!state || !state->filling)) return;
  for (auto name : {"if-none-match", "if-modified-since", "range", "if-range"})
    ctx.upstream_edits.remove.push_back(name);
}

Next CacheFilter::on_response(RequestContext& ctx, core::ResponseHead& head) const {
  auto* state = ctx.state.find<State>(state_slot());
  if (!state && ctx.background) {
    // The background refresh of a stale entry: the lock came with it.
    state = &ctx.state.get<State>(state_slot());
    key_of(ctx, state->key);
    state->filling = true;
    state->locks = &cache_->locks();
    state->result = "MISS";
  }
  if (!state || state->result == "HIT" || state->result == "STALE") return Next::Continue;
  if (state->result == "BYPASS") {
    head.add("X-Cache", "BYPASS");
    return Next::Continue;
  }
  if (state->stale && server_error(head.status) &&
      now_ms() < state->stale->stale_if_error_until_ms) {
    serve(ctx, *state, state->stale, "STALE");
    return Next::Respond;
  }
  head.add("X-Cache", "MISS");
  if (!start_keeping(ctx, *state, head)) {
    state->building.reset();
    // Waiters need not sit through an answer that will not be stored (a stream, a download).
    release_early(*state);
  }
  return Next::Continue;
}

void CacheFilter::release_early(State& state) const {
  if (!state.filling) return;
  state.filling = false;
  state.handed_to_refresh = false;
  cache_->locks().release(state.key, state.outcome);
}

// An entry stored compressed by the upstream itself (not by this route's compressor) may be in
// an encoding this client does not take: it is then no hit for this client.
bool CacheFilter::accepts_stored_encoding(const RequestContext& ctx,
                                          const CachedAnswer& entry) const {
  auto coding = entry.header("content-encoding");
  if (coding.empty() || core::iequals(coding, "identity")) return true;
  auto encoding = compress::encoding_from_name(coding);
  if (encoding == compress::Encoding::Identity) return false;
  compress::Encoding only[] = {encoding};
  return compress::negotiate(ctx.head->find("accept-encoding"), only) == encoding;
}

bool CacheFilter::start_keeping(RequestContext& ctx, State& state,
                                const core::ResponseHead& head) const {
  state.outcome = server_error(head.status) ? FillOutcome::Failed : FillOutcome::NotStorable;
  if (ctx.head->method != "GET" || !stored_status(head.status) || head.has("set-cookie"))
    return false;
  auto directives = parse_cache_control(joined(head.fields, "cache-control"));
  if (directives.no_store || directives.is_private || directives.no_cache) return false;
  // An Authorization the gateway did not check: the answer may be that user's alone; a shared
  // cache keeps it only when the upstream says it may (RFC 9111 3.5).
  if (!route_.authenticated && ctx.head->has("authorization") && !directives.is_public &&
      !directives.s_maxage)
    return false;
  auto vary = parse_vary(joined(head.fields, "vary"));
  // The route's cors filter varies its own headers by Origin and adds them to every answer
  // again: the stored body does not vary by it.
  if (route_.cors) std::erase(vary, "origin");
  if (std::find(vary.begin(), vary.end(), "*") != vary.end()) return false;
  if (head.content_length && *head.content_length > cache_->config().max_object_size) return false;

  // Fresh for `ttl` from now, or for what the upstream's s-maxage (else max-age) leaves after
  // the Age it already has, when that is shorter. Seconds are bounded by 2^31 when parsed.
  std::int64_t initial_age = 0;
  if (auto age = head.find("age"); !age.empty()) {
    initial_age = std::clamp<std::int64_t>(std::atoll(std::string(age).c_str()), 0, 1ll << 31);
  }
  std::int64_t lifetime_ms = to_ms(config_.ttl);
  auto upstream_limit = directives.s_maxage ? directives.s_maxage : directives.max_age;
  if (upstream_limit) lifetime_ms = std::min(lifetime_ms, (*upstream_limit - initial_age) * 1000);
  if (lifetime_ms <= 0) return false;

  auto answer = std::make_shared<CachedAnswer>();
  answer->status = head.status;
  for (const auto& f : head.fields) {
    if (per_answer_field(f.name, ctx.request_id_header)) continue;
    if (route_.cors && (starts_with_ignoring_case(f.name, "access-control-") ||
                        (core::iequals(f.name, "vary") && core::iequals(f.value, "origin"))))
      continue;
    answer->headers.emplace_back(std::string(f.name), std::string(f.value));
  }
  // Names the route's own `vary` covers are in the key already.
  std::erase_if(vary, [&](const std::string& name) {
    return std::find(config_.vary.begin(), config_.vary.end(), name) != config_.vary.end();
  });
  answer->vary = std::move(vary);
  auto now = now_ms();
  answer->stored_ms = now;
  answer->initial_age = initial_age;
  answer->fresh_until_ms = now + lifetime_ms;
  answer->stale_while_revalidate_until_ms =
      answer->fresh_until_ms + to_ms(config_.stale_while_revalidate);
  answer->stale_if_error_until_ms = answer->fresh_until_ms + to_ms(config_.stale_if_error);
  answer->path = std::string(ctx.head->raw_path);
  answer->route_tag = route_tag_;
  if (head.content_length) answer->body.reserve(*head.content_length);
  state.building = std::move(answer);
  state.keeping = true;
  return true;
}

void CacheFilter::on_body(RequestContext& ctx, proxy::BodyChunk& chunk) const {
  auto* state = ctx.state.find<State>(state_slot());
  if (!state || !state->keeping) return;
  auto& body = state->building->body;
  for (auto piece : chunk.pieces.pieces) body.append(piece);
  if (body.size() > cache_->config().max_object_size) {
    // Relayed in full all the same; only the keeping stops.
    state->keeping = false;
    state->building.reset();
    state->outcome = FillOutcome::NotStorable;
    release_early(*state);
    return;
  }
  if (chunk.last) finish_keeping(ctx, *state);
}

void CacheFilter::finish_keeping(RequestContext& ctx, State& state) const {
  state.keeping = false;
  state.building->body.shrink_to_fit();  // the store's bound counts the bytes, not the capacity
  std::shared_ptr<const CachedAnswer> answer = std::move(state.building);
  std::string answer_key = state.key;
  std::shared_ptr<const CachedAnswer> marker;
  if (!answer->vary.empty()) {
    auto m = std::make_shared<CachedAnswer>();
    m->vary_marker = true;
    m->vary = answer->vary;
    m->status = answer->status;
    m->path = answer->path;
    m->route_tag = answer->route_tag;
    m->stored_ms = answer->stored_ms;
    m->fresh_until_ms = answer->fresh_until_ms;
    m->stale_while_revalidate_until_ms = answer->stale_while_revalidate_until_ms;
    m->stale_if_error_until_ms = answer->stale_if_error_until_ms;
    marker = std::move(m);
    vary_key_of(ctx, answer->vary, answer_key);
  }
  state.outcome = FillOutcome::Stored;
  bool holds_lock = std::exchange(state.filling, false);
  if (auto* store = cache_->memory()) {
    if (marker) store->put(state.key, marker);
    store->put(answer_key, answer);
    if (holds_lock)
      cache_->locks().release(state.key, FillOutcome::Stored, std::move(answer), answer_key);
    return;
  }
  if (!ctx.services || !ctx.services->redis) {
    if (holds_lock) cache_->locks().release(state.key, FillOutcome::Failed);
    return;
  }
  auto& io = ctx.services->io;
  auto& clients = *ctx.services->redis;
  if (marker) cache_->redis_put(io, clients, state.key, *marker);
  // The lock is held until Redis has the entry: a request that looked before then would find
  // the old one (or none) and fetch it again.
  std::function<void()> release;
  if (holds_lock) {
    release = [cache = cache_, key = state.key, answer, answer_key] {
      cache->locks().release(key, FillOutcome::Stored, answer, answer_key);
    };
  }
  cache_->redis_put(io, clients, answer_key, *answer, std::move(release));
}

void CacheFilter::end_fill(State& state) const {
  if (!state.filling || state.handed_to_refresh) return;
  state.filling = false;
  cache_->locks().release(state.key, state.keeping ? FillOutcome::Failed : state.outcome);
}

void CacheFilter::on_complete(RequestContext& ctx) const {
  auto* state = ctx.state.find<State>(state_slot());
  if (ctx.background) {
    if (state) {
      state->handed_to_refresh = false;
      end_fill(*state);
    } else {
      // The refresh ended before any answer (connect failure, say): its lock goes all the same.
      std::string key;
      key_of(ctx, key);
      cache_->locks().release(key, FillOutcome::Failed);
    }
    return;
  }
  if (!state) return;
  end_fill(*state);
  state->keeping = false;
  state->building.reset();
  std::uint32_t series = miss_series_;
  if (state->result == "HIT")
    series = hit_series_;
  else if (state->result == "STALE")
    series = stale_series_;
  else if (state->result == "BYPASS")
    series = bypass_series_;
  if (ctx.metrics) ctx.metrics->count(series);
}

}  // namespace portico::filters::cache
