#include "filters/cors/cors_filter.h"

#include <algorithm>

#include "core/ascii.h"
#include "core/text.h"

namespace portico::filters::cors {

namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

using core::trim;

bool is_preflight(const core::RequestHead& head) {
  return head.method == "OPTIONS" && head.has("origin") &&
         head.has("access-control-request-method");
}

}  // namespace

CorsFilter::CorsFilter(const CorsConfig& config)
    : origins_(config.allow_origins),
      methods_(config.allow_methods),
      headers_(config.allow_headers),
      credentials_(config.allow_credentials) {
  any_origin_ = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
  any_header_ = std::find(headers_.begin(), headers_.end(), "*") != headers_.end();
  // Without a list, the CORS-safelisted methods (Fetch standard).
  if (methods_.empty()) methods_ = {"GET", "HEAD", "POST"};
  preflight_headers_.emplace_back("Access-Control-Allow-Methods", joined(methods_));
  if (!headers_.empty() && !any_header_)
    preflight_headers_.emplace_back("Access-Control-Allow-Headers", joined(headers_));
  if (config.max_age)
    preflight_headers_.emplace_back(
        "Access-Control-Max-Age",
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*config.max_age).count()));
  expose_headers_ = joined(config.expose_headers);
}

bool CorsFilter::origin_allowed(std::string_view origin) const {
  if (origin.empty()) return false;
  if (any_origin_) return true;
  return std::any_of(origins_.begin(), origins_.end(),
                     [&](const std::string& o) { return core::iequals(o, origin); });
}

bool CorsFilter::method_allowed(std::string_view method) const {
  return std::find(methods_.begin(), methods_.end(), method) != methods_.end();
}

bool CorsFilter::headers_allowed(std::string_view requested) const {
  if (any_header_) return true;
  while (!requested.empty()) {
    auto comma = requested.find(',');
    auto name = trim(requested.substr(0, comma));
    if (!name.empty() && std::none_of(headers_.begin(), headers_.end(),
                                      [&](const std::string& h) { return core::iequals(h, name); }))
      return false;
    if (comma == std::string_view::npos) break;
    requested.remove_prefix(comma + 1);
  }
  return true;
}

template <class AddHeader>
void CorsFilter::allow_origin(std::string_view origin, AddHeader add) const {
  // "*" cannot be combined with credentials (Fetch standard): then the origin is echoed.
  add("Access-Control-Allow-Origin", any_origin_ && !credentials_ ? std::string_view("*") : origin);
  add("Vary", "Origin");
  if (credentials_) add("Access-Control-Allow-Credentials", "true");
}

proxy::Next CorsFilter::on_request(proxy::RequestContext& ctx) const {
  const auto& head = *ctx.head;
  if (!is_preflight(head)) return proxy::Next::Continue;
  auto& reply = ctx.reply;
  auto origin = head.find("origin");
  if (!origin_allowed(origin) || !method_allowed(head.find("access-control-request-method")) ||
      !headers_allowed(head.find("access-control-request-headers"))) {
    reply.status = 403;
    reply.message = "CORS preflight refused";
    reply.error_tag = "cors_denied";
    reply.add_header("Vary", "Origin");
    return proxy::Next::Respond;
  }
  reply.status = 204;
  reply.body_kind = proxy::LocalReply::Body::Empty;
  reply.error_tag = {};
  allow_origin(origin, [&](std::string_view name, std::string_view value) {
    reply.add_header(name, value);
  });
  for (const auto& [name, value] : preflight_headers_) reply.add_header(name, value);
  if (any_header_) {
    if (auto requested = head.find("access-control-request-headers"); !requested.empty())
      reply.add_header("Access-Control-Allow-Headers", requested);
  }
  return proxy::Next::Respond;
}

proxy::Next CorsFilter::on_response(proxy::RequestContext& ctx, core::ResponseHead& head) const {
  // A preflight was answered in on_request with its own headers.
  if (is_preflight(*ctx.head)) return proxy::Next::Continue;
  auto origin = ctx.head->find("origin");
  if (!origin_allowed(origin)) return proxy::Next::Continue;
  allow_origin(origin, [&](std::string_view name, std::string_view value) {
    head.add(name, value);  // views into the request head and this filter: both outlive it
  });
  if (!expose_headers_.empty()) head.add("Access-Control-Expose-Headers", expose_headers_);
  return proxy::Next::Continue;
}

}  // namespace portico::filters::cors
