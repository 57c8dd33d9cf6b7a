// What one request carries through its route's filters and action: the request as parsed and
// routed, who the client is, who authentication said it is, the local answer a filter asked
// for, the filters' own per-request state, and the worker's services. Owned by the session and
// reused request after request. Nothing here knows the codec (HTTP/1 text, HTTP/2 frames).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/request_head.h"
#include "core/response_head.h"
#include "observability/metrics.h"
#include "routing/router.h"

namespace boost::asio {
class io_context;
}
namespace portico::net {
class BufferPool;
class DeadlineList;
}  // namespace portico::net
namespace portico::upstream {
class Prng;
class TargetPools;
}  // namespace portico::upstream
namespace portico::stores::redis {
class RedisClients;
}

namespace portico::proxy {

// The authenticated identity. Views into whatever the provider verified (a cached token, an
// introspection result); `owner` keeps that alive, so a cache hit copies one shared_ptr.
struct Identity {
  std::string_view provider;  // the auth provider that passed
  std::string_view consumer;  // JWT sub, the API key's consumer, introspection sub
  std::span<const std::string> roles;
  std::span<const std::string> scopes;
  std::span<const std::pair<std::string, std::string>> upstream_headers;  // forward_claims
  const boost::json::object* claims = nullptr;                            // JWT claims, if any
  std::shared_ptr<const void> owner;

  bool authenticated() const { return !provider.empty(); }
};

// An answer the gateway makes itself instead of running the action (or instead of the
// upstream's answer, from on_response). Without a body of its own it carries the JSON error
// body `{"error": ..., "message": ..., "request_id": ...}`.
struct LocalReply {
  // Stored: a body and head fields held elsewhere (a cache entry that `owner` keeps alive), so
  // serving them copies nothing.
  enum class Body { Error, Empty, Given, Stored };
  int status = 0;
  std::string_view message;    // the error body's message; empty: the status's default
  std::string_view error_tag;  // the access log's `error`
  std::vector<std::pair<std::string, std::string>> headers;  // added to the answer's head
  Body body_kind = Body::Error;
  std::string body;                              // Body::Given
  std::string content_type;                      // Body::Given; empty: application/octet-stream
  std::string_view stored_body;                  // Body::Stored
  std::vector<core::HeaderField> stored_fields;  // Body::Stored: the head's fields, as kept
  std::shared_ptr<const void> owner;             // keeps stored_body and stored_fields valid

  // A fresh error answer: `status`, the error body's `message` (empty: the status's default),
  // the access log's `tag`, and one extra header when `extra` names one.
  void set_error(int code, std::string_view text, std::string_view tag,
                 core::HeaderField extra = {}) {
    clear();
    status = code;
    message = text;
    error_tag = tag;
    if (!extra.name.empty()) add_header(extra.name, extra.value);
  }
  void add_header(std::string_view name, std::string_view value) {
    headers.emplace_back(name, value);
  }
  // The answer is `body`, of `type`, instead of an error body.
  void set_body(std::string text, std::string_view type) {
    body_kind = Body::Given;
    body = std::move(text);
    content_type = type;
  }
  // The answer is a stored one: its status, fields and body, views `keep` holds.
  void set_stored(int code, std::shared_ptr<const void> keep) {
    clear();
    status = code;
    body_kind = Body::Stored;
    owner = std::move(keep);
  }
  void clear() {
    status = 0;
    message = error_tag = {};
    headers.clear();
    body_kind = Body::Error;
    body.clear();
    content_type.clear();
    stored_body = {};
    stored_fields.clear();
    owner.reset();
  }
};

// Changes filters make to the copy of the request that goes upstream: each field replaces the
// client's fields of that name. Views that must outlive the exchange (config, identity).
struct UpstreamEdits {
  std::vector<core::HeaderField> set;
  std::vector<std::string_view> remove;
  bool empty() const { return set.empty() && remove.empty(); }
  void clear() {
    set.clear();
    remove.clear();
  }
};

// What a filter or action may use from the worker it runs on: one handle, so that a new
// service (a store client, say) is one member here rather than a new parameter everywhere.
struct WorkerServices {
  boost::asio::io_context& io;
  observability::MetricsShard& metrics;
  upstream::Prng& prng;
  net::DeadlineList& deadlines;
  net::BufferPool& buffers;
  upstream::TargetPools& upstreams;
  stores::redis::RedisClients* redis = nullptr;  // the worker's Redis clients (shared stores)
};

class RequestBody;

// Deletes what a type-erased holder holds, knowing its type from when it was made.
struct ErasedDeleter {
  void (*destroy)(void*) = nullptr;
  void operator()(void* p) const { destroy(p); }
};

// Per-connection working storage of an action (buffers, its upstream exchange), kept from one
// request to the next so a request allocates nothing once it has grown: one object of one
// type at a time.
class ActionScratch {
 public:
  template <class T>
  T& get() {
    static const char tag = 0;
    if (tag_ != &tag) {
      held_ = Holder(new T(), ErasedDeleter{[](void* p) { delete static_cast<T*>(p); }});
      tag_ = &tag;
    }
    return *static_cast<T*>(held_.get());
  }
  // A connection gone quiet keeps nothing.
  void release() {
    held_.reset();
    tag_ = nullptr;
  }

 private:
  using Holder = std::unique_ptr<void, ErasedDeleter>;
  Holder held_;
  const void* tag_ = nullptr;
};

// What the access log and metrics record of the exchange, filled by the action.
struct ExchangeRecord {
  std::string_view upstream;  // the upstream's name
  std::string_view target;    // "host:port"
  double upstream_ms = -1;
  int retries = 0;
  int calls = 0;  // an aggregate's calls
  void clear() { *this = {}; }
};

// Per-request state of the filters that need some (a cache's key, a compressor's stream):
// one slot per filter of the route, typed by the filter that owns it, empty at the start of
// every request. A filter learns its slot index when the chain is built. The objects stay
// with the connection from one request to the next (a State with a reset() member keeps its
// strings' capacity, so a request allocates nothing once they have grown); a slot whose type
// changed (another route, a reload) is made afresh.
class FilterStateSlots {
 public:
  template <class State>
  State& get(std::size_t slot) {
    static const char tag = 0;
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    auto& s = slots_[slot];
    if (s.tag != &tag) {
      s.held = Holder{new State(), ErasedDeleter{[](void* p) { delete static_cast<State*>(p); }}};
      s.tag = &tag;
    } else if (!s.live) {
      auto& state = *static_cast<State*>(s.held.get());
      if constexpr (requires { state.reset(); })
        state.reset();
      else
        state = State();
    }
    s.live = true;
    return *static_cast<State*>(s.held.get());
  }
  template <class State>
  State* find(std::size_t slot) {
    // Live slots were claimed by get() this request, by the one filter that owns the slot.
    if (slot >= slots_.size() || !slots_[slot].live) return nullptr;
    return static_cast<State*>(slots_[slot].held.get());
  }
  void clear() {
    for (auto& slot : slots_) slot.live = false;
  }
  // A connection gone quiet keeps nothing.
  void release() { slots_.clear(); }

 private:
  using Holder = std::unique_ptr<void, ErasedDeleter>;
  struct Slot {
    Holder held;
    const void* tag = nullptr;  // which State type `held` is
    bool live = false;          // get() was called during this request
  };
  std::vector<Slot> slots_;
};

struct RequestContext {
  const core::RequestHead* head = nullptr;  // fields joined, path normalized
  const routing::MatchResult* match = nullptr;
  RequestBody* body = nullptr;  // the codec's
  std::string_view route_name;
  std::string_view client_ip;  // after trusted_proxies
  std::string_view peer_ip;    // the connection's peer
  bool peer_trusted = false;   // the peer is in server.trusted_proxies
  std::string_view request_id;
  std::string_view request_id_header;              // server.request_id_header
  bool tls = false;                                // the client connection speaks TLS
  bool upgrade = false;                            // the request asks for `Upgrade: websocket`
  std::string_view client_cert_subject;            // verified mutual-TLS subject, if any
  WorkerServices* services = nullptr;              // the worker this request runs on
  observability::MetricsShard* metrics = nullptr;  // services->metrics
  Identity identity;
  LocalReply reply;
  UpstreamEdits upstream_edits;
  core::ResponseHead response;  // the answer's head as its maker (upstream, action) wrote it
  FilterStateSlots state;
  int status = 0;  // the answer's status, once its head is written (on_complete sees it)
  std::string_view error_tag;     // the access log's `error`
  std::string_view cache_result;  // the access log's `cache`: HIT, MISS, STALE, BYPASS
  // Set by a filter: once this request is answered, the session runs a copy of it through the
  // route's action again in the background (a cache refreshing the stale entry it served).
  bool refresh_in_background = false;
  bool background = false;  // this is that copy: nobody listens to its answer
  // Nobody wants this request's answer any more (an aggregate cancelled this call): the action
  // stops where it is (ProxyAction::abandon).
  bool abandoned = false;
  ExchangeRecord exchange;
  ActionScratch scratch;  // not reset: reused request after request

  void reset() {
    error_tag = {};
    cache_result = {};
    refresh_in_background = false;
    abandoned = false;
    exchange.clear();
    identity = {};
    reply.clear();
    upstream_edits.clear();
    response.clear();
    state.clear();
    status = 0;
  }
};

}  // namespace portico::proxy
