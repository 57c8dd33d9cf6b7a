// libFuzzer target for the JWT verifier and the JWKS parser. Each input is used three ways:
//  1. as a token, verified against a fixed HMAC secret: it may pass only if its third segment
//     really is the HMAC of the first two;
//  2. as "header JSON\npayload JSON", which this target encodes and signs with that secret, so
//     the claim checks and the verified token are reached too: a pass needs "alg":"HS256",
//     and no forwarded header may carry a control character;
//  3. as a JWKS document: a key set it yields is never empty, and checking a token against
//     its keys gives an answer for any key OpenSSL agreed to build.
// Aborts when a check fails.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "filters/jwt_auth/key_set.h"
#include "filters/jwt_auth/verifier.h"

namespace {

using namespace portico::jwt;

constexpr std::string_view secret = "fuzz-secret";
constexpr std::int64_t now = 1'700'000'000;

std::string base64url(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                   reinterpret_cast<const unsigned char*>(bytes.data()),
                                   static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(size));
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::string hs256(std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
  return base64url(std::string_view(reinterpret_cast<char*>(mac), size));
}

Verifier make_verifier(bool strict) {
  VerifierOptions options;
  // HS256 is the only HMAC algorithm, so that verify_as_token knows which MAC to expect.
  options.algorithms = {"HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA", "none"};
  if (strict) {
    options.issuer = "https://idp.example";
    options.audience = {"orders-api"};
  }
  options.leeway = std::chrono::seconds(30);
  options.forward_claims = {{"sub", "X-User-Id"}, {"roles", "X-Roles"}, {"org", "X-Org"}};
  return Verifier(std::move(options));
}

const KeySet& hmac_keys() {
  static const KeySet keys = std::move(*KeySet::from_secret(secret).key_set);
  return keys;
}

void check_accepted(const VerifyResult& result) {
  if (!result.ok()) return;
  for (const auto& [name, value] : result.token->forward_headers)
    for (const char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) std::abort();
  for (const auto& [claim, value] : result.token->claims) (void)claim_text(*result.token, claim);
}

void verify_as_token(std::string_view token) {
  static const Verifier verifier = make_verifier(true);
  const VerifyResult result = verifier.verify(token, hmac_keys(), now);
  check_accepted(result);
  if (!result.ok()) return;
  const std::size_t last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos ||
      token.substr(last_dot + 1) != hs256(token.substr(0, last_dot)))
    std::abort();  // accepted without the secret's signature
}

void verify_signed(std::string_view input) {
  static const Verifier verifier = make_verifier(false);
  const std::size_t newline = input.find('\n');
  const std::string_view header = input.substr(0, newline);
  const std::string_view payload =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  std::string token = base64url(header) + "." + base64url(payload);
  token += "." + hs256(token);
  const VerifyResult result = verifier.verify(token, hmac_keys(), now);
  check_accepted(result);
  if (result.ok() && header.find("HS256") == std::string_view::npos) std::abort();
}

void parse_as_jwks(std::string_view text) {
  static const Verifier verifier = make_verifier(false);
  const KeySetResult result = KeySet::from_jwks(text);
  if (!result.key_set) {
    if (result.error.empty()) std::abort();
    return;
  }
  if (result.key_set->keys().empty()) std::abort();
  // A well-formed token per family, signed by no key in particular: never accepted.
  for (const std::string_view alg : {"HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"}) {
    const std::string token = base64url("{\"alg\":\"" + std::string(alg) + "\"}") + "." +
                              base64url("{}") + "." + base64url(std::string(64, '\x01'));
    if (verifier.verify(token, *result.key_set, now).ok()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  verify_as_token(input);
  verify_signed(input);
  parse_as_jwks(input);
  return 0;
}
