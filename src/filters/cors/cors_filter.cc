#include "filters/cors/cors_filter.h"

#include <algorithm>

#include "core/ascii.h"

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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_preflight(const core::RequestHead& head) {
  return head.method == "OPTIONS" && head.has("origin") &&
         head.has("access-control-request-method");
}

}  // namespace

CorsFilter::CorsFilter(const config::CorsConfig& config)
    : origins_(config.allow_origins),
      methods_(config.allow_methods),
      headers_(config.allow_headers),
      credentials_(config.allow_credentials) {
  any_origin_ = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
  any_header_ = std::find(headers_.begin(), headers_.end(), "*") != headers_.end();
  // Without a list, the CORS-safelisted methods (Fetch standard).
  if (methods_.empty()) methods_ = {"GET", "HEAD", "POST"};
  preflight_lines_ = "Access-Control-Allow-Methods: " + joined(methods_) + "\r\n";
  if (!headers_.empty() && !any_header_)
    preflight_lines_ += "Access-Control-Allow-Headers: " + joined(headers_) + "\r\n";
  if (config.max_age)
    preflight_lines_ +=
        "Access-Control-Max-Age: " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*config.max_age).count()) +
        "\r\n";
  if (!config.expose_headers.empty())
    expose_line_ = "Access-Control-Expose-Headers: " + joined(config.expose_headers) + "\r\n";
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

void CorsFilter::append_allow_origin(std::string& head, std::string_view origin) const {
  // "*" cannot be combined with credentials (Fetch standard): then the origin is echoed.
  head += "Access-Control-Allow-Origin: ";
  if (any_origin_ && !credentials_)
    head += '*';
  else
    head += origin;
  head += "\r\nVary: Origin\r\n";
  if (credentials_) head += "Access-Control-Allow-Credentials: true\r\n";
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
    reply.headers += "Vary: Origin\r\n";
    return proxy::Next::Respond;
  }
  reply.status = 204;
  reply.empty_body = true;
  reply.error_tag = {};
  append_allow_origin(reply.headers, origin);
  reply.headers += preflight_lines_;
  if (any_header_) {
    if (auto requested = head.find("access-control-request-headers"); !requested.empty()) {
      reply.headers += "Access-Control-Allow-Headers: ";
      reply.headers += requested;
      reply.headers += "\r\n";
    }
  }
  return proxy::Next::Respond;
}

void CorsFilter::on_response(const proxy::RequestContext& ctx, std::string& head) const {
  if (is_preflight(*ctx.head)) return;  // answered in on_request with its own headers
  auto origin = ctx.head->find("origin");
  if (!origin_allowed(origin)) return;
  append_allow_origin(head, origin);
  head += expose_line_;
}

}  // namespace portico::filters::cors
