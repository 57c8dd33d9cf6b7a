// KeySet::from_jwks: JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) to OpenSSL keys.
#include <openssl/core_names.h>
#include <openssl/err.h>

#include <boost/json.hpp>

#include "filters/jwt_auth/base64url.h"
#include "filters/jwt_auth/key_set.h"

namespace portico::jwt {

namespace {

namespace json = boost::json;

// One string from pieces; also sidesteps GCC 12's false -Wrestrict on "literal" + std::string.
template <typename... Pieces>
std::string concat(const Pieces&... pieces) {
  std::string out;
  (out.append(std::string_view(pieces)), ...);
  return out;
}

// Why a JWK of a kind we verify cannot be used. An empty error with no key means "skipped".
struct JwkError {
  std::string text;
};

std::optional<std::string_view> text_member(const json::object& jwk, std::string_view name) {
  const json::value* value = jwk.if_contains(name);
  if (!value || !value->is_string()) return std::nullopt;
  return std::string_view(value->get_string());
}

// The decoded bytes of a required base64url member.
std::string bytes_member(const json::object& jwk, std::string_view name, JwkError& error) {
  std::string bytes;
  const std::optional<std::string_view> text = text_member(jwk, name);
  if (!text)
    error.text = concat("no \"", name, "\" string");
  else if (!base64url_decode(*text, bytes) || bytes.empty())
    error.text = concat("\"", name, "\" is not base64url");
  return bytes;
}

PkeyPtr from_params(const char* type, const OSSL_PARAM* params) {
  PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &pkey, EVP_PKEY_PUBLIC_KEY,
                        const_cast<OSSL_PARAM*>(params)) != 1)
    return nullptr;
  return PkeyPtr(pkey);
}

PkeyPtr rsa_key(const json::object& jwk, JwkError& error) {
  const std::string n = bytes_member(jwk, "n", error);
  const std::string e = bytes_member(jwk, "e", error);
  if (!error.text.empty()) return nullptr;
  BignumPtr modulus(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                              static_cast<int>(n.size()), nullptr));
  BignumPtr exponent(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                               static_cast<int>(e.size()), nullptr));
  ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (!modulus || !exponent || !build ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    error.text = "RSA parameters could not be built";
    return nullptr;
  }
  ParamsPtr params(OSSL_PARAM_BLD_to_param(build.get()));
  PkeyPtr pkey = params ? from_params("RSA", params.get()) : nullptr;
  if (!pkey) {
    error.text = "OpenSSL refused the RSA key";
  } else if (EVP_PKEY_get_bits(pkey.get()) < min_rsa_bits) {
    error.text = concat("RSA key of ", std::to_string(EVP_PKEY_get_bits(pkey.get())),
                        " bits; at least ", std::to_string(min_rsa_bits), " are needed");
    pkey.reset();
  }
  return pkey;
}

PkeyPtr ec_key(const json::object& jwk, KeyKind kind, JwkError& error) {
  const std::size_t coordinate_bytes = kind == KeyKind::EcP256 ? 32 : 48;
  const std::string x = bytes_member(jwk, "x", error);
  const std::string y = bytes_member(jwk, "y", error);
  if (!error.text.empty()) return nullptr;
  // RFC 7518 §6.2.1.2: each coordinate is the full width of the curve, leading zeros kept.
  if (x.size() != coordinate_bytes || y.size() != coordinate_bytes) {
    error.text = concat("EC coordinates must be ", std::to_string(coordinate_bytes), " bytes each");
    return nullptr;
  }
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  const char* group = kind == KeyKind::EcP256 ? "P-256" : "P-384";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  PkeyPtr pkey = from_params("EC", params);
  if (!pkey) error.text = "EC point is not on the curve";
  return pkey;
}

PkeyPtr ed25519_key(const json::object& jwk, JwkError& error) {
  const std::string x = bytes_member(jwk, "x", error);
  if (!error.text.empty()) return nullptr;
  if (x.size() != 32) {
    error.text = "Ed25519 \"x\" must be 32 bytes";
    return nullptr;
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (!pkey) error.text = "OpenSSL refused the Ed25519 key";
  return pkey;
}

// True when the JWK says it is for something other than verifying signatures.
bool meant_for_other_use(const json::object& jwk) {
  if (const json::value* use = jwk.if_contains("use"))
    if (!use->is_string() || use->get_string() != "sig") return true;
  if (const json::value* operations = jwk.if_contains("key_ops")) {
    if (!operations->is_array()) return true;
    for (const json::value& operation : operations->get_array())
      if (operation.is_string() && operation.get_string() == "verify") return false;
    return true;
  }
  return false;
}

// The key, nullopt with an empty error when it is skipped, or nullopt with the reason.
std::optional<Key> key_from_jwk(const json::object& jwk, JwkError& error) {
  const std::optional<std::string_view> kty = text_member(jwk, "kty");
  if (!kty) {
    error.text = "no \"kty\" string";
    return std::nullopt;
  }
  if (meant_for_other_use(jwk)) return std::nullopt;

  Key key;
  if (const json::value* kid = jwk.if_contains("kid")) {
    if (!kid->is_string()) {
      error.text = "\"kid\" is not a string";
      return std::nullopt;
    }
    key.kid = kid->get_string();
  }
  if (const json::value* alg = jwk.if_contains("alg")) {
    if (!alg->is_string()) {
      error.text = "\"alg\" is not a string";
      return std::nullopt;
    }
    key.algorithm = parse_algorithm(alg->get_string());
    if (!key.algorithm) return std::nullopt;  // RSA-OAEP, ES512, ...: not ours to use
  }

  const std::optional<std::string_view> crv = text_member(jwk, "crv");
  if (*kty == "RSA") {
    key.kind = KeyKind::Rsa;
    key.public_key = rsa_key(jwk, error);
  } else if (*kty == "EC" && (crv == "P-256" || crv == "P-384")) {
    key.kind = crv == "P-256" ? KeyKind::EcP256 : KeyKind::EcP384;
    key.public_key = ec_key(jwk, key.kind, error);
  } else if (*kty == "OKP" && crv == "Ed25519") {
    key.kind = KeyKind::Ed25519;
    key.public_key = ed25519_key(jwk, error);
  } else if (*kty == "oct") {
    key.kind = KeyKind::HmacSecret;
    key.secret = bytes_member(jwk, "k", error);
  } else {
    return std::nullopt;  // other curves and key types
  }
  if (!error.text.empty()) return std::nullopt;
  if (key.algorithm && !key_fits(key.kind, *key.algorithm)) {
    error.text = concat("\"alg\" ", algorithm_name(*key.algorithm), " does not fit a ",
                        key_kind_name(key.kind), " key");
    return std::nullopt;
  }
  return key;
}

}  // namespace

KeySetResult KeySet::from_jwks(std::string_view text) {
  const auto refuse = [](std::string error) {
    ERR_clear_error();  // a stale error would mislead the next TLS call on this thread
    return KeySetResult{std::nullopt, concat("JWKS ", error)};
  };
  json::error_code parse_error;
  const json::value document = json::parse(text, parse_error);
  if (parse_error) return refuse("is not JSON: " + parse_error.message());
  const json::object* root = document.if_object();
  const json::value* list = root ? root->if_contains("keys") : nullptr;
  if (!list || !list->is_array()) return refuse("is not an object with a \"keys\" array");

  std::vector<Key> keys;
  const json::array& jwks = list->get_array();
  for (std::size_t i = 0; i < jwks.size(); ++i) {
    const std::string where = concat("keys[", std::to_string(i), "]: ");
    const json::object* jwk = jwks[i].if_object();
    if (!jwk) return refuse(concat(where, "not an object"));
    JwkError error;
    std::optional<Key> key = key_from_jwk(*jwk, error);
    if (!error.text.empty()) return refuse(concat(where, error.text));
    if (key) keys.push_back(std::move(*key));
  }
  if (keys.empty()) return refuse("holds no signing key this gateway verifies");
  return {KeySet(std::move(keys)), {}};
}

}  // namespace portico::jwt
