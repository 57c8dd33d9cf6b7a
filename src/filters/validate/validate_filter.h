// A route's `validate:`: its request body is read whole (at most max_body_bytes, else 413),
// parsed and checked against the route's JSON Schema before the action runs; an invalid body
// gets 400 with the first violations' JSON pointers and never reaches the upstream, a body
// that is not JSON by its Content-Type gets 415. The body read here is what goes upstream,
// unchanged: the filter hands the action a held copy (ctx.body) in place of the codec's.
// Runs after auth and rbac, so that an unauthenticated client cannot make it read bodies.
#pragma once

#include <cstdint>
#include <memory>

#include "filters/validate/json_schema.h"
#include "filters/validate/validate_config.h"
#include "proxy/filter.h"

namespace portico::filters::validate {

// The most violations one answer lists.
inline constexpr std::size_t kMaxReportedErrors = 10;

class ValidateFilter final : public proxy::Filter {
 public:
  explicit ValidateFilter(const ValidateConfig& config);

  std::string_view name() const override { return "validate"; }
  // What the head alone decides: no body (passes), a non-JSON type (415), a declared length
  // over the bound (413); otherwise Wait, to read the body.
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  boost::asio::awaitable<proxy::Next> on_request_async(proxy::RequestContext& ctx) const override;

 private:
  std::shared_ptr<const JsonSchema> schema_;  // null: bodies are only bounded
  std::uint64_t max_body_bytes_;
};

// Whether a Content-Type names JSON: application/json or any application/*+json, any params.
bool is_json_media_type(std::string_view content_type);

}  // namespace portico::filters::validate
