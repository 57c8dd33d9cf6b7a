#include "filters/auth/auth_config.h"

#include <algorithm>

#include "config/yaml_reader.h"

namespace portico::filters::auth {
namespace {

using config::assign, config::Field, config::Fields, config::YamlReader, config::quoted;

constexpr std::string_view kHmacAlgorithms[] = {"HS256", "HS384", "HS512"};  // need a secret
constexpr std::string_view kTokenSources[] = {"header", "query", "cookie"};

template <std::size_t N>
bool contains(const std::string_view (&list)[N], std::string_view word) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
}

void read_jwt(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  auto secret = r.text(f.get("secret"));
  if (secret && secret->empty()) r.error(*f.get("secret"), "the secret is empty");
  assign(std::move(secret), out.secret);
  assign(r.non_empty(f.get("public_key")), out.public_key);
  assign(r.url(f.get("jwks_url"), {"https", "http"}), out.jwks_url);
  assign(r.non_empty(f.get("jwks_file")), out.jwks_file);
  int written = f.has("secret") + f.has("public_key") + f.has("jwks_url") + f.has("jwks_file");
  if (written == 0) {
    r.error(f.self(), "a jwt provider needs one key: secret, public_key, jwks_url or jwks_file");
  } else if (written > 1) {
    r.error(f.self(), "give only one of secret, public_key, jwks_url or jwks_file");
  }
  bool hmac = f.has("secret");
  if (auto algorithms = r.list(f.get("algorithms"), true)) {
    for (const auto& item : *algorithms) {
      auto name = r.non_empty(item);
      if (!name) continue;
      if (config::lower_ascii(*name) == "none") {
        r.error(item, "the none algorithm is never accepted: it means an unsigned token");
      } else if (!contains(kJwtAlgorithms, *name)) {
        r.error(item,
                "expected a JWS algorithm (HS256, RS256, ES256, EdDSA, ...), got " + quoted(*name));
      } else if (written == 1 && hmac != contains(kHmacAlgorithms, *name)) {
        // Mixing the two lets a public key be used as an HMAC secret.
        r.error(item, hmac ? "a secret signs HS256/HS384/HS512 only, not " + *name
                           : "HS* algorithms need a secret, not a public key: " + *name);
      } else {
        out.algorithms.push_back(*name);
      }
    }
  }
  assign(r.non_empty(f.get("issuer")), out.issuer);
  assign(r.strings(f.get("audience")), out.audience);
  assign(r.duration(f.get("leeway"), true), out.leeway);
  if (auto sources_from = r.list(f.get("token_from"), true)) {
    for (const auto& item : *sources_from) {
      auto source = r.non_empty(item);
      if (!source) continue;
      auto colon = source->find(':');
      std::string kind = source->substr(0, colon);
      bool valid = colon != std::string::npos && colon + 1 < source->size() &&
                   contains(kTokenSources, kind) &&
                   (kind != "header" || config::is_header_name(source->substr(colon + 1)));
      if (valid)
        out.token_from.push_back(*source);
      else
        r.error(item, "expected header:NAME, query:NAME or cookie:NAME, got " + quoted(*source));
    }
  }
  if (out.token_from.empty()) out.token_from.push_back("header:Authorization");
  if (auto claims = r.entries(f.get("forward_claims"))) {
    for (const auto& entry : *claims) {
      if (auto header = r.header_name(entry.value))
        out.forward_claims.emplace_back(entry.key, *header);
    }
  }
  assign(r.non_empty(f.get("roles_claim")), out.roles_claim);
}

void read_api_key(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  assign(r.header_name(f.get("header")), out.header);
  if (f.has("keys") == f.has("keys_file")) {
    r.error(f.self(), "an api_key provider needs one of keys (key: consumer) or keys_file");
  }
  if (auto keys = r.entries(f.get("keys"))) {
    for (const auto& entry : *keys) {
      if (auto consumer = r.non_empty(entry.value)) out.keys.push_back({entry.key, *consumer});
    }
  }
  assign(r.non_empty(f.get("keys_file")), out.keys_file);
}

void read_introspection(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  r.require(f, config::required_keys<AuthProviderConfig>("oauth2_introspection"));
  assign(r.url(f.get("url"), {"http", "https"}), out.url);
  assign(r.non_empty(f.get("client_id")), out.client_id);
  assign(r.text(f.get("client_secret")), out.client_secret);
  assign(r.duration(f.get("cache_ttl"), true), out.cache_ttl);
}

void read_provider(YamlReader& r, const Field& field, AuthProviderConfig& out) {
  auto f = r.mapping(field, config::yaml_keys<AuthProviderConfig>());
  if (!f) return;
  if (!f->has("type")) {
    r.error(f->self(), "missing key \"type\" (jwt | api_key | oauth2_introspection)");
    return;
  }
  auto type = r.choice(f->get("type"), kAuthTypes);
  if (!type) return;
  out.type = *type;
  // Which type a key belongs to is noted beside the struct (auth_config.h).
  for (const config::Note& note : notes_of(&out)) {
    auto key = config::key_of(note);
    if (!note.member.empty() && !note.only_for.empty() && note.only_for != *type && f->has(key))
      r.error(*f->get(key), "key " + quoted(key) + " does not apply to type " + *type);
  }
  if (*type == "jwt")
    read_jwt(r, *f, out);
  else if (*type == "api_key")
    read_api_key(r, *f, out);
  else
    read_introspection(r, *f, out);
}

}  // namespace

std::map<std::string, AuthProviderConfig> read_auth_config(YamlReader& r,
                                                           const std::optional<Field>& field) {
  std::map<std::string, AuthProviderConfig> out;
  auto entries = r.entries(field);
  if (!entries) return out;
  for (const auto& entry : *entries) {
    AuthProviderConfig provider;
    provider.name = entry.key;
    provider.mark = entry.key_mark;
    read_provider(r, entry.value, provider);
    out[entry.key] = std::move(provider);
  }
  return out;
}

}  // namespace portico::filters::auth
