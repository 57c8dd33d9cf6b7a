// The top-level `cors:` policy on a route with `cors: true`. A preflight (OPTIONS with Origin
// and Access-Control-Request-Method) is answered here, 204 or 403, before authentication: a
// browser sends it without credentials. Other requests from an allowed origin get the
// Access-Control-* response headers, also on the gateway's own error answers.
#pragma once

#include <string>
#include <vector>

#include "filters/cors/cors_config.h"
#include "proxy/filter.h"

namespace portico::filters::cors {

class CorsFilter final : public proxy::Filter {
 public:
  explicit CorsFilter(const CorsConfig& config);

  std::string_view name() const override { return "cors"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  proxy::Next on_response(proxy::RequestContext& ctx, core::ResponseHead& head) const override;

 private:
  bool origin_allowed(std::string_view origin) const;
  bool method_allowed(std::string_view method) const;
  bool headers_allowed(std::string_view requested) const;
  // Calls add(name, value) for the Access-Control-Allow-Origin fields of `origin`.
  template <class AddHeader>
  void allow_origin(std::string_view origin, AddHeader add) const;

  std::vector<std::string> origins_;
  std::vector<std::string> methods_;
  std::vector<std::string> headers_;
  bool any_origin_ = false;
  bool any_header_ = false;
  bool credentials_ = false;
  // Built once: a preflight's Allow-Methods, Allow-Headers and Max-Age; the Expose-Headers list.
  std::vector<std::pair<std::string, std::string>> preflight_headers_;
  std::string expose_headers_;
};

}  // namespace portico::filters::cors
