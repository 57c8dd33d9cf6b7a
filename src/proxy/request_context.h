// What one request carries through its route's filters and action: the request as parsed and
// routed, who the client is, who authentication said it is, and the local answer a filter asked
// for. Owned by the connection and reused request after request.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/request_head.h"
#include "observability/metrics.h"
#include "routing/router.h"

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

// An answer the gateway makes itself instead of running the action.
struct LocalReply {
  int status = 0;
  std::string_view message;    // the JSON error body's message; empty: the status's default
  std::string_view error_tag;  // the access log's `error`
  std::string headers;         // extra "Name: value\r\n" lines
  bool empty_body = false;     // no JSON error body (a CORS preflight's 204)
};

struct RequestContext {
  const core::RequestHead* head = nullptr;  // fields joined, path normalized
  const routing::MatchResult* match = nullptr;
  std::string_view route_name;
  std::string_view client_ip;
  observability::MetricsShard* metrics = nullptr;  // this worker's shard
  Identity identity;
  LocalReply reply;

  void reset() {
    identity = {};
    reply.status = 0;
    reply.message = reply.error_tag = {};
    reply.headers.clear();
    reply.empty_body = false;
  }
};

}  // namespace portico::proxy
