#include "filters/jwt_auth/key_set.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "filters/jwt_auth/test_tokens.h"

namespace portico::jwt {
namespace {

using test::loaded;
using test::test_keys;

std::string refusal(const KeySetResult& result) {
  EXPECT_FALSE(result.key_set);
  return result.error;
}

std::string jwks(std::initializer_list<std::string> keys) {
  std::string text = R"({"keys":[)";
  for (const std::string& key : keys) text += (text.back() == '[' ? "" : ",") + key;
  return text + "]}";
}

TEST(KeySet, FromSecretHoldsTheRawBytes) {
  const KeySet keys = loaded(KeySet::from_secret("s3cret\n"));
  ASSERT_EQ(keys.keys().size(), 1u);
  EXPECT_EQ(keys.keys()[0].kind, KeyKind::HmacSecret);
  EXPECT_EQ(keys.keys()[0].secret, "s3cret\n");
  EXPECT_TRUE(keys.keys()[0].kid.empty());
}

TEST(KeySet, RefusesAnEmptySecret) {
  EXPECT_EQ(refusal(KeySet::from_secret("")), "empty HMAC secret");
}

TEST(KeySet, FromPemReadsEachKeyKind) {
  const struct {
    EVP_PKEY* key;
    KeyKind kind;
  } cases[] = {{test_keys().rsa.get(), KeyKind::Rsa},
               {test_keys().ec256.get(), KeyKind::EcP256},
               {test_keys().ec384.get(), KeyKind::EcP384},
               {test_keys().ed25519.get(), KeyKind::Ed25519}};
  for (const auto& c : cases) {
    const KeySet keys = loaded(KeySet::from_pem(test::public_pem(c.key)));
    ASSERT_EQ(keys.keys().size(), 1u);
    EXPECT_EQ(keys.keys()[0].kind, c.kind) << key_kind_name(c.kind);
    EXPECT_EQ(EVP_PKEY_eq(keys.keys()[0].public_key.get(), c.key), 1);
  }
}

TEST(KeySet, FromPemReadsACertificatesKey) {
  const KeySet rsa = loaded(KeySet::from_pem(test::certificate_pem(test_keys().rsa.get())));
  EXPECT_EQ(rsa.keys()[0].kind, KeyKind::Rsa);
  EXPECT_EQ(EVP_PKEY_eq(rsa.keys()[0].public_key.get(), test_keys().rsa.get()), 1);
  const KeySet ec = loaded(KeySet::from_pem(test::certificate_pem(test_keys().ec256.get())));
  EXPECT_EQ(ec.keys()[0].kind, KeyKind::EcP256);
}

TEST(KeySet, FromPemRefusesPrivateKeysJunkAndWeakRsa) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), test_keys().ec256.get(), nullptr, nullptr, 0, nullptr,
                           nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  EXPECT_NE(refusal(KeySet::from_pem(std::string(data, size))).find("private key"),
            std::string::npos);

  EXPECT_NE(refusal(KeySet::from_pem("hello")).find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(
      refusal(KeySet::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")),
      "PEM public key could not be read");

  PkeyPtr weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
  EXPECT_NE(refusal(KeySet::from_pem(test::public_pem(weak.get()))).find("1024 bits"),
            std::string::npos);
  PkeyPtr p521(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"));
  EXPECT_NE(refusal(KeySet::from_pem(test::public_pem(p521.get()))).find("secp521r1"),
            std::string::npos);
}

TEST(KeySet, FromJwksReadsEveryKeyType) {
  const KeySet keys = loaded(KeySet::from_jwks(jwks({
      test::public_jwk(test_keys().rsa.get(), "rsa"),
      test::public_jwk(test_keys().ec256.get(), "ec256"),
      test::public_jwk(test_keys().ec384.get(), "ec384"),
      test::public_jwk(test_keys().ed25519.get(), "ed"),
      test::secret_jwk("hmac-secret", "oct"),
  })));
  ASSERT_EQ(keys.keys().size(), 5u);
  EXPECT_EQ(keys.keys()[0].kind, KeyKind::Rsa);
  EXPECT_EQ(EVP_PKEY_eq(keys.keys()[0].public_key.get(), test_keys().rsa.get()), 1);
  EXPECT_EQ(keys.keys()[1].kind, KeyKind::EcP256);
  EXPECT_EQ(EVP_PKEY_eq(keys.keys()[1].public_key.get(), test_keys().ec256.get()), 1);
  EXPECT_EQ(keys.keys()[2].kind, KeyKind::EcP384);
  EXPECT_EQ(EVP_PKEY_eq(keys.keys()[2].public_key.get(), test_keys().ec384.get()), 1);
  EXPECT_EQ(keys.keys()[3].kind, KeyKind::Ed25519);
  EXPECT_EQ(EVP_PKEY_eq(keys.keys()[3].public_key.get(), test_keys().ed25519.get()), 1);
  EXPECT_EQ(keys.keys()[4].kind, KeyKind::HmacSecret);
  EXPECT_EQ(keys.keys()[4].secret, "hmac-secret");
  EXPECT_EQ(keys.keys()[4].kid, "oct");
  EXPECT_TRUE(keys.has_kid("ec384"));
  EXPECT_FALSE(keys.has_kid("nope"));
}

TEST(KeySet, FromJwksKeepsAKeysAlg) {
  const KeySet keys = loaded(KeySet::from_jwks(
      jwks({test::public_jwk(test_keys().rsa.get(), "rsa", R"("alg":"PS256","use":"sig")")})));
  ASSERT_EQ(keys.keys().size(), 1u);
  EXPECT_EQ(keys.keys()[0].algorithm, Algorithm::PS256);
  EXPECT_TRUE(keys.keys()[0].verifies(Algorithm::PS256));
  EXPECT_FALSE(keys.keys()[0].verifies(Algorithm::RS256));
  EXPECT_FALSE(keys.keys()[0].verifies(Algorithm::HS256));
}

TEST(KeySet, FromJwksSkipsKeysMeantForOtherUses) {
  const KeySet keys = loaded(KeySet::from_jwks(jwks({
      test::public_jwk(test_keys().rsa.get(), "enc", R"("use":"enc")"),
      test::public_jwk(test_keys().rsa.get(), "oaep", R"("alg":"RSA-OAEP")"),
      test::public_jwk(test_keys().rsa.get(), "wrap", R"("key_ops":["wrapKey"])"),
      R"({"kty":"EC","crv":"P-521","x":"AA","y":"AA"})",
      R"({"kty":"OKP","crv":"X25519","x":"AA"})",
      R"({"kty":"PQ","kid":"future"})",
      test::public_jwk(test_keys().ec256.get(), "sig", R"("key_ops":["verify"])"),
  })));
  ASSERT_EQ(keys.keys().size(), 1u);
  EXPECT_EQ(keys.keys()[0].kid, "sig");
}

TEST(KeySet, FromJwksRefusesMalformedDocuments) {
  EXPECT_NE(refusal(KeySet::from_jwks("{")).find("not JSON"), std::string::npos);
  EXPECT_NE(refusal(KeySet::from_jwks("[]")).find("\"keys\" array"), std::string::npos);
  EXPECT_NE(refusal(KeySet::from_jwks(R"({"keys":{}})")).find("\"keys\" array"), std::string::npos);
  EXPECT_EQ(refusal(KeySet::from_jwks(R"({"keys":[]})")),
            "JWKS holds no signing key this gateway verifies");
  EXPECT_EQ(refusal(KeySet::from_jwks(R"({"keys":[1]})")), "JWKS keys[0]: not an object");
  EXPECT_EQ(refusal(KeySet::from_jwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"},{}]})")),
            "JWKS keys[1]: no \"kty\" string");
}

TEST(KeySet, FromJwksRefusesMalformedKeys) {
  const auto error_of = [](std::string key) { return refusal(KeySet::from_jwks(jwks({key}))); };
  EXPECT_EQ(error_of(R"({"kty":"RSA","e":"AQAB"})"), "JWKS keys[0]: no \"n\" string");
  EXPECT_EQ(error_of(R"({"kty":"RSA","n":"a+b","e":"AQAB"})"),
            "JWKS keys[0]: \"n\" is not base64url");
  EXPECT_NE(error_of(R"({"kty":"RSA","n":"AQAB","e":"AQAB"})").find("at least 2048"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"kty":"oct","k":""})"), "JWKS keys[0]: \"k\" is not base64url");
  EXPECT_EQ(error_of(R"({"kty":"oct","k":"c2VjcmV0","kid":7})"),
            "JWKS keys[0]: \"kid\" is not a string");
  EXPECT_EQ(error_of(R"({"kty":"oct","k":"c2VjcmV0","alg":"RS256"})"),
            "JWKS keys[0]: \"alg\" RS256 does not fit a HMAC secret key");
  EXPECT_EQ(error_of(R"({"kty":"OKP","crv":"Ed25519","x":"AAAA"})"),
            "JWKS keys[0]: Ed25519 \"x\" must be 32 bytes");
  EXPECT_EQ(error_of(R"({"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"})"),
            "JWKS keys[0]: EC coordinates must be 32 bytes each");
}

TEST(KeySet, FromJwksRefusesAPointOffTheCurve) {
  std::string jwk = test::public_jwk(test_keys().ec256.get(), "ec");
  // Replace y with x: (x, x) is on P-256 with negligible probability.
  const std::size_t x = jwk.find("\"x\":\"") + 5;
  const std::size_t y = jwk.find("\"y\":\"") + 5;
  const std::string x_value = jwk.substr(x, jwk.find('"', x) - x);
  jwk.replace(y, jwk.find('"', y) - y, x_value);
  EXPECT_EQ(refusal(KeySet::from_jwks(jwks({jwk}))), "JWKS keys[0]: EC point is not on the curve");
}

}  // namespace
}  // namespace portico::jwt
