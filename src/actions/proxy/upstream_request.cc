// The copy of the request that goes upstream: its target (strip_prefix, rewrite), the client's
// fields minus what the gateway owns, the forwarding headers (behaviour.md "Headers"), the
// route's and the filters' edits, the body's framing. And the balancing key it is sent by.
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <charconv>

#include "actions/proxy/proxy_action.h"
#include "core/forward_headers.h"
#include "core/text.h"
#include "filters/auth/credential_source.h"
#include "proxy/request_body.h"
#include "upstream/key_hash.h"

namespace portico::actions::proxy {

using namespace std::string_view_literals;

namespace {

constexpr std::string_view crlf = "\r\n";

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": "sv;
  out += value;
  out += crlf;
}

bool named_in(const config::HeaderList& list, std::string_view name) {
  for (const auto& [n, v] : list)
    if (core::iequals(n, name)) return true;
  return false;
}

bool named_in(const std::vector<std::string>& list, std::string_view name) {
  for (const auto& n : list)
    if (core::iequals(n, name)) return true;
  return false;
}

bool edited_by_filters(const portico::proxy::UpstreamEdits& edits, std::string_view name) {
  if (edits.empty()) return false;
  for (const auto& f : edits.set)
    if (core::iequals(f.name, name)) return true;
  for (auto removed : edits.remove)
    if (core::iequals(removed, name)) return true;
  return false;
}

// True when `path` starts with `prefix` on a segment boundary.
bool has_segment_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") return false;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.back() == '/';
}

// The value a rewrite placeholder that is not a path param stands for ({consumer},
// {jwt.CLAIM}, {client_cert.subject}); nullopt for a path param.
std::optional<std::string_view> identity_placeholder(const RequestContext& ctx,
                                                     std::string_view name) {
  if (name == "consumer") return ctx.identity.consumer;
  if (name == "client_cert.subject") return ctx.client_cert_subject;
  if (name.starts_with("jwt.")) {
    if (const auto* claims = ctx.identity.claims) {
      if (const auto* claim = claims->if_contains(name.substr(4)); claim && claim->is_string())
        return std::string_view(claim->get_string());
    }
    return std::string_view();
  }
  return std::nullopt;
}

}  // namespace

void ProxyAction::build_upstream_head(const RequestContext& ctx, const TargetRuntime& target,
                                      bool chunked_body, std::string& out) const {
  const auto& head = *ctx.head;
  const auto& route = route_;
  out.clear();
  out += head.method;
  out += ' ';
  if (route.has_rewrite) {
    for (const auto& part : route.rewrite) {
      if (!part.is_param)
        out += part.text;
      else if (auto identity = identity_placeholder(ctx, part.text))
        out += boost::urls::encode(*identity, boost::urls::pchars);
      else
        out += ctx.match->params.find(part.text);
    }
    if (out.back() == ' ') out += '/';
  } else if (has_segment_prefix(head.path, route.strip_prefix)) {
    std::string_view rest = std::string_view(head.path).substr(route.strip_prefix.size());
    if (rest.empty() || rest.front() != '/') out += '/';
    out += rest;
  } else {
    out += head.path;
  }
  if (head.has_query) {
    out += '?';
    out += head.query;  // byte for byte as the client sent it
  }
  out += " HTTP/1.1\r\n"sv;

  const bool trusted = ctx.peer_trusted;
  std::string_view client_xff, client_proto, host;
  for (const auto& f : head.fields) {
    auto name = f.name;
    if (core::iequals(name, "host")) host = f.value;
    if (core::iequals(name, "x-forwarded-for")) {
      client_xff = f.value;
      continue;
    }
    if (core::iequals(name, "x-forwarded-proto")) {
      client_proto = f.value;
      continue;
    }
    // Only the gateway vouches for a client certificate.
    if (core::iequals(name, "content-length") || core::iequals(name, "expect") ||
        core::iequals(name, "x-client-cert-subject") || core::iequals(name, "x-forwarded-host") ||
        core::iequals(name, "forwarded") || core::iequals(name, ctx.request_id_header) ||
        named_in(route.set_headers, name) || named_in(route.remove_headers, name) ||
        edited_by_filters(ctx.upstream_edits, name))
      continue;
    append_header(out, name, f.value);
  }
  if (host.empty()) append_header(out, "Host", target.key);
  // X-Forwarded-For is appended to only when the peer is a trusted proxy; otherwise the
  // client's own claim is replaced, as are the other forwarding headers.
  out += "X-Forwarded-For: "sv;
  if (trusted && !client_xff.empty()) {
    out += client_xff;
    out += ", "sv;
  }
  out += ctx.peer_ip;
  out += crlf;
  std::string_view proto =
      trusted && !client_proto.empty() ? client_proto : (ctx.tls ? "https"sv : "http"sv);
  append_header(out, "X-Forwarded-Proto", proto);
  if (!host.empty()) append_header(out, "X-Forwarded-Host", host);
  out += "Forwarded: for="sv;
  core::append_forwarded_node(out, ctx.client_ip);
  if (!host.empty()) {
    out += ";host=\""sv;
    out += host;
    out += '"';
  }
  out += ";proto="sv;
  out += proto;
  out += crlf;
  append_header(out, ctx.request_id_header, ctx.request_id);
  if (!ctx.client_cert_subject.empty())
    append_header(out, "X-Client-Cert-Subject", ctx.client_cert_subject);
  if (ctx.upgrade) out += "Connection: Upgrade\r\nUpgrade: websocket\r\n"sv;
  for (const auto& [name, value] : route.set_headers) append_header(out, name, value);
  for (const auto& f : ctx.upstream_edits.set) append_header(out, f.name, f.value);
  if (chunked_body) {
    out += "Transfer-Encoding: chunked\r\n"sv;
  } else if (auto length = ctx.body->length(); length && *length > 0) {
    out += "Content-Length: "sv;
    core::append_number(out, *length);
    out += crlf;
  } else if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") {
    out += "Content-Length: 0\r\n"sv;
  }
  out += crlf;
}

std::uint64_t ProxyAction::balancing_hash(const RequestContext& ctx) const {
  const auto& key = upstream_.hash_key;
  std::string_view value;
  switch (key.source) {
    case HashKey::Source::None:
      return 0;
    case HashKey::Source::ClientIp:
      value = ctx.client_ip;
      break;
    case HashKey::Source::Header:
      value = ctx.head->find(key.name);
      break;
    case HashKey::Source::Cookie:
      value = filters::auth::cookie_value(ctx.head->find("cookie"), key.name);
      break;
    case HashKey::Source::Claim:
      if (const auto* claims = ctx.identity.claims) {
        if (const auto* claim = claims->if_contains(key.name); claim && claim->is_string())
          value = claim->get_string();
      }
      break;
    case HashKey::Source::Path:
      value = ctx.head->path;
      break;
  }
  // Without a key there is nothing to keep together: spread such requests.
  if (value.empty()) return ctx.services->prng.next();
  return upstream::hash_bytes(value);
}

}  // namespace portico::actions::proxy
