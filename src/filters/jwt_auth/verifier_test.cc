// Signatures, algorithms, key choice and token shape; claims are in verifier_claims_test.cc.
#include "filters/jwt_auth/verifier.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "filters/jwt_auth/base64url.h"
#include "filters/jwt_auth/test_tokens.h"

namespace portico::jwt {
namespace {

using test::loaded;
using test::Signer;
using test::test_keys;

constexpr std::int64_t now = 1'700'000'000;
constexpr std::string_view claims = R"({"sub":"user-1","exp":1700000600})";
constexpr std::string_view secret = "a secret of at least thirty-two bytes";

constexpr Algorithm all_algorithms[] = {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512,
                                        Algorithm::RS256, Algorithm::RS384, Algorithm::RS512,
                                        Algorithm::PS256, Algorithm::PS384, Algorithm::PS512,
                                        Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA};

EVP_PKEY* private_key(Algorithm algorithm, bool other) {
  const test::TestKeys& keys = test_keys();
  switch (algorithm) {
    case Algorithm::HS256:
    case Algorithm::HS384:
    case Algorithm::HS512:
      return nullptr;
    case Algorithm::ES256:
      return (other ? keys.other_ec256 : keys.ec256).get();
    case Algorithm::ES384:
      return (other ? keys.other_ec384 : keys.ec384).get();
    case Algorithm::EdDSA:
      return (other ? keys.other_ed25519 : keys.ed25519).get();
    default:
      return (other ? keys.other_rsa : keys.rsa).get();
  }
}

Signer signer_for(Algorithm algorithm, bool other_key = false) {
  return {algorithm, other_key ? "another secret, just as long as the first" : std::string(secret),
          private_key(algorithm, other_key), ""};
}

KeySet keys_for(Algorithm algorithm) {
  EVP_PKEY* key = private_key(algorithm, false);
  return loaded(key ? KeySet::from_pem(test::public_pem(key)) : KeySet::from_secret(secret));
}

Verifier verifier_allowing(std::vector<std::string> algorithms) {
  VerifierOptions options;
  options.algorithms = std::move(algorithms);
  return Verifier(std::move(options));
}

Failure failure_of(const VerifyResult& result) {
  EXPECT_FALSE(result.ok());
  return result.failure;
}

TEST(Verifier, AcceptsEveryAlgorithmWithItsKey) {
  for (const Algorithm algorithm : all_algorithms) {
    const std::string name(algorithm_name(algorithm));
    const VerifyResult result = verifier_allowing({name}).verify(
        test::sign(signer_for(algorithm), claims), keys_for(algorithm), now);
    ASSERT_TRUE(result.ok()) << name << ": " << failure_name(result.failure);
    EXPECT_EQ(result.token->subject, "user-1") << name;
  }
}

TEST(Verifier, RefusesEveryAlgorithmSignedByAnotherKeyOfTheSameKind) {
  for (const Algorithm algorithm : all_algorithms) {
    const std::string name(algorithm_name(algorithm));
    const VerifyResult result = verifier_allowing({name}).verify(
        test::sign(signer_for(algorithm, true), claims), keys_for(algorithm), now);
    EXPECT_EQ(failure_of(result), Failure::BadSignature) << name;
  }
}

TEST(Verifier, RefusesATokenWhosePayloadWasChanged) {
  for (const Algorithm algorithm : all_algorithms) {
    const std::string token = test::sign(signer_for(algorithm), claims);
    const std::string forged_payload =
        test::base64url_encode(R"({"sub":"admin","exp":1700000600})");
    const std::size_t first = token.find('.');
    const std::size_t second = token.find('.', first + 1);
    const std::string forged = token.substr(0, first + 1) + forged_payload + token.substr(second);
    const std::string name(algorithm_name(algorithm));
    EXPECT_EQ(failure_of(verifier_allowing({name}).verify(forged, keys_for(algorithm), now)),
              Failure::BadSignature)
        << name;
  }
}

TEST(Verifier, RefusesAlgNoneEvenWhenListed) {
  const Verifier verifier = verifier_allowing({"HS256", "none"});
  const KeySet keys = keys_for(Algorithm::HS256);
  const std::string unsigned_token =
      test::base64url_encode(R"({"alg":"none"})") + "." + test::base64url_encode(claims) + ".";
  EXPECT_EQ(failure_of(verifier.verify(unsigned_token, keys, now)), Failure::AlgorithmNotAllowed);
  // Even carrying the HMAC a confused verifier might compute for it.
  const std::string with_mac =
      test::sign_with_header(signer_for(Algorithm::HS256), R"({"alg":"none"})", claims);
  EXPECT_EQ(failure_of(verifier.verify(with_mac, keys, now)), Failure::AlgorithmNotAllowed);
  EXPECT_THROW(verifier_allowing({"none"}), std::invalid_argument);
}

TEST(Verifier, RefusesHs256SignedWithTheRsaPublicKeyText) {
  const std::string pem = test::public_pem(test_keys().rsa.get());
  const std::string token = test::sign({Algorithm::HS256, pem, nullptr, ""}, claims);
  const Verifier verifier = verifier_allowing({"HS256", "RS256"});
  EXPECT_EQ(failure_of(verifier.verify(token, loaded(KeySet::from_pem(pem)), now)),
            Failure::UnknownKey);
  const std::string jwks = R"({"keys":[)" + test::public_jwk(test_keys().rsa.get(), "rsa") + "]}";
  const std::string with_kid = test::sign({Algorithm::HS256, pem, nullptr, "rsa"}, claims);
  EXPECT_EQ(failure_of(verifier.verify(with_kid, loaded(KeySet::from_jwks(jwks)), now)),
            Failure::UnknownKey);
}

TEST(Verifier, RefusesAnAlgorithmOutsideTheAllowList) {
  const Verifier verifier = verifier_allowing({"RS256"});
  EXPECT_EQ(failure_of(verifier.verify(test::sign(signer_for(Algorithm::PS256), claims),
                                       keys_for(Algorithm::PS256), now)),
            Failure::AlgorithmNotAllowed);
  const std::string unknown =
      test::sign_with_header(signer_for(Algorithm::HS256), R"({"alg":"HS1"})", claims);
  EXPECT_EQ(failure_of(verifier.verify(unknown, keys_for(Algorithm::HS256), now)),
            Failure::AlgorithmNotAllowed);
}

TEST(Verifier, RefusesUnknownAlgorithmNamesInItsOptions) {
  EXPECT_THROW(verifier_allowing({"HS256", "hs256"}), std::invalid_argument);
  EXPECT_THROW(verifier_allowing({}), std::invalid_argument);
  VerifierOptions options;
  options.algorithms = {"HS256"};
  options.leeway = std::chrono::seconds(-1);
  EXPECT_THROW(Verifier{options}, std::invalid_argument);
}

TEST(Verifier, RefusesAMalformedEcdsaSignatureLength) {
  const std::string token = test::sign(signer_for(Algorithm::ES256), claims);
  const std::size_t signature_at = token.rfind('.') + 1;
  std::string signature;
  ASSERT_TRUE(base64url_decode(token.substr(signature_at), signature));
  signature.pop_back();
  const std::string shortened = token.substr(0, signature_at) + test::base64url_encode(signature);
  EXPECT_EQ(
      failure_of(verifier_allowing({"ES256"}).verify(shortened, keys_for(Algorithm::ES256), now)),
      Failure::BadSignature);
}

class VerifierMalformed : public ::testing::Test {
 protected:
  Failure verify(std::string_view token) const {
    return failure_of(verifier_.verify(token, keys_, now));
  }
  std::string signed_with_header(std::string_view header) const {
    return test::sign_with_header(signer_for(Algorithm::HS256), header, claims);
  }
  std::string signed_payload(std::string_view payload) const {
    return test::sign(signer_for(Algorithm::HS256), payload);
  }

  Verifier verifier_ = verifier_allowing({"HS256"});
  KeySet keys_ = keys_for(Algorithm::HS256);
  std::string good_ = test::sign(signer_for(Algorithm::HS256), claims);
};

TEST_F(VerifierMalformed, RefusesWrongSegmentCounts) {
  ASSERT_TRUE(verifier_.verify(good_, keys_, now).ok());
  const std::size_t first = good_.find('.');
  const std::size_t second = good_.find('.', first + 1);
  EXPECT_EQ(verify(good_.substr(0, first)), Failure::Malformed);
  EXPECT_EQ(verify(good_.substr(0, second)), Failure::Malformed);
  EXPECT_EQ(verify(good_ + ".e30"), Failure::Malformed);
  EXPECT_EQ(verify(good_ + "."), Failure::Malformed);
  EXPECT_EQ(verify(""), Failure::Malformed);
}

TEST_F(VerifierMalformed, RefusesBadBase64InAnySegment) {
  const std::size_t first = good_.find('.');
  const std::size_t second = good_.find('.', first + 1);
  for (const std::size_t at : {std::size_t{1}, first + 2, second + 2}) {
    std::string bad = good_;
    bad[at] = '+';
    EXPECT_EQ(verify(bad), Failure::Malformed) << at;
  }
  EXPECT_EQ(verify(good_ + "="), Failure::Malformed);
  EXPECT_EQ(verify(" " + good_), Failure::Malformed);
}

TEST_F(VerifierMalformed, RefusesAHugeToken) {
  const std::string padding(20'000, 'x');
  const std::string huge = signed_payload(R"({"sub":"user-1","pad":")" + padding + "\"}");
  EXPECT_EQ(verify(huge), Failure::Malformed);
  VerifierOptions roomy;
  roomy.algorithms = {"HS256"};
  roomy.max_token_bytes = 64 * 1024;
  EXPECT_TRUE(Verifier(roomy).verify(huge, keys_, now).ok());
}

TEST_F(VerifierMalformed, RefusesHeadersThatAreNotJsonObjectsWithAnAlg) {
  EXPECT_EQ(verify(signed_with_header("not json")), Failure::Malformed);
  EXPECT_EQ(verify(signed_with_header(R"(["HS256"])")), Failure::Malformed);
  EXPECT_EQ(verify(signed_with_header(R"({"typ":"JWT"})")), Failure::Malformed);
  EXPECT_EQ(verify(signed_with_header(R"({"alg":256})")), Failure::Malformed);
  EXPECT_EQ(verify(signed_with_header(R"({"alg":"HS256","kid":1})")), Failure::Malformed);
  EXPECT_EQ(verify(signed_with_header(R"({"alg":"HS256","crit":["exp"],"exp":1})")),
            Failure::Malformed);
  EXPECT_TRUE(verifier_.verify(signed_with_header(R"({"alg":"HS256"})"), keys_, now).ok());
}

TEST_F(VerifierMalformed, RefusesPayloadsThatAreNotJsonObjects) {
  EXPECT_EQ(verify(signed_payload("not json")), Failure::Malformed);
  EXPECT_EQ(verify(signed_payload(R"(["sub","user-1"])")), Failure::Malformed);
  EXPECT_EQ(verify(signed_payload(R"("user-1")")), Failure::Malformed);
  EXPECT_EQ(verify(signed_payload(R"({"sub":"user-1")")), Failure::Malformed);
  EXPECT_EQ(verify(signed_payload("{\"sub\":\"\xff\"}")), Failure::Malformed);
  EXPECT_EQ(verify(signed_payload(R"({"sub":42})")), Failure::Malformed);
}

class VerifierKeyChoice : public ::testing::Test {
 protected:
  Signer rsa(std::string kid, bool other = false) const {
    return {Algorithm::RS256, "", (other ? test_keys().other_rsa : test_keys().rsa).get(),
            std::move(kid)};
  }

  Verifier verifier_ = verifier_allowing({"RS256", "PS256", "HS256", "ES256"});
  KeySet jwks_ = loaded(
      KeySet::from_jwks(R"({"keys":[)" + test::public_jwk(test_keys().rsa.get(), "a") + "," +
                        test::public_jwk(test_keys().other_rsa.get(), "b") + "," +
                        test::public_jwk(test_keys().rsa.get(), "pss-only", R"("alg":"PS256")") +
                        "," + test::secret_jwk(secret, "hmac") + "]}"));
};

TEST_F(VerifierKeyChoice, UsesTheKeyTheKidNames) {
  EXPECT_TRUE(verifier_.verify(test::sign(rsa("a"), claims), jwks_, now).ok());
  EXPECT_TRUE(verifier_.verify(test::sign(rsa("b", true), claims), jwks_, now).ok());
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(rsa("a", true), claims), jwks_, now)),
            Failure::BadSignature);
  const Signer hmac{Algorithm::HS256, std::string(secret), nullptr, "hmac"};
  EXPECT_TRUE(verifier_.verify(test::sign(hmac, claims), jwks_, now).ok());
}

TEST_F(VerifierKeyChoice, RefusesAnUnknownKid) {
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(rsa("zzz"), claims), jwks_, now)),
            Failure::UnknownKey);
}

TEST_F(VerifierKeyChoice, RefusesAKidOfAnotherFamilyOrAlgorithm) {
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(rsa("hmac"), claims), jwks_, now)),
            Failure::UnknownKey);
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(rsa("pss-only"), claims), jwks_, now)),
            Failure::UnknownKey);
  const Signer pss{Algorithm::PS256, "", test_keys().rsa.get(), "pss-only"};
  EXPECT_TRUE(verifier_.verify(test::sign(pss, claims), jwks_, now).ok());
  const Signer ec{Algorithm::ES256, "", test_keys().ec256.get(), ""};
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(ec, claims), jwks_, now)), Failure::UnknownKey);
}

TEST_F(VerifierKeyChoice, TriesEveryKeyOfTheFamilyWithoutAKid) {
  EXPECT_TRUE(verifier_.verify(test::sign(rsa(""), claims), jwks_, now).ok());
  EXPECT_TRUE(verifier_.verify(test::sign(rsa("", true), claims), jwks_, now).ok());
}

TEST_F(VerifierKeyChoice, UsesAKeyWithoutKidWhateverKidTheTokenNames) {
  const KeySet pem = loaded(KeySet::from_pem(test::public_pem(test_keys().rsa.get())));
  EXPECT_TRUE(verifier_.verify(test::sign(rsa("idp-2024"), claims), pem, now).ok());
  EXPECT_EQ(failure_of(verifier_.verify(test::sign(rsa("idp-2024", true), claims), pem, now)),
            Failure::BadSignature);
}

TEST(Verifier, VerifiesFromManyThreadsAtOnce) {
  const Verifier verifier = verifier_allowing({"ES256", "HS256"});
  const KeySet ec = keys_for(Algorithm::ES256);
  const KeySet hmac = keys_for(Algorithm::HS256);
  const std::string ec_token = test::sign(signer_for(Algorithm::ES256), claims);
  const std::string hmac_token = test::sign(signer_for(Algorithm::HS256), claims);
  const std::string forged = test::sign(signer_for(Algorithm::ES256, true), claims);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!verifier.verify(ec_token, ec, now).ok()) ++wrong;
        if (!verifier.verify(hmac_token, hmac, now).ok()) ++wrong;
        if (verifier.verify(forged, ec, now).ok()) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace portico::jwt
