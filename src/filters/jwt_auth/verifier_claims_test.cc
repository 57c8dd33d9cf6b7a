// exp, nbf, iat with leeway; issuer; audience.
#include <gtest/gtest.h>

#include "filters/jwt_auth/test_tokens.h"
#include "filters/jwt_auth/verifier.h"

namespace portico::jwt {
namespace {

constexpr std::int64_t now = 1'700'000'000;
constexpr std::int64_t leeway = 30;

class VerifierClaims : public ::testing::Test {
 protected:
  VerifierClaims() { options_.algorithms = {"HS256"}; }

  // The outcome for a token carrying `claims`, with the options as the test set them.
  std::string_view outcome(std::string_view claims) const {
    const Verifier verifier(options_);
    const VerifyResult result =
        verifier.verify(test::sign({Algorithm::HS256, "secret", nullptr, ""}, claims), keys_, now);
    return result.ok() ? "ok" : failure_name(result.failure);
  }
  std::string_view outcome_with_exp(std::int64_t exp) const {
    return outcome(R"({"exp":)" + std::to_string(exp) + "}");
  }

  VerifierOptions options_;
  KeySet keys_ = test::loaded(KeySet::from_secret("secret"));
};

TEST_F(VerifierClaims, AcceptsATokenWithoutTimeClaims) {
  EXPECT_EQ(outcome("{}"), "ok");
}

TEST_F(VerifierClaims, RefusesAnExpiredToken) {
  EXPECT_EQ(outcome_with_exp(now + 1), "ok");
  EXPECT_EQ(outcome_with_exp(now), "expired");
  EXPECT_EQ(outcome_with_exp(now - 3600), "expired");
}

TEST_F(VerifierClaims, GivesExpTheLeewayToTheSecond) {
  options_.leeway = std::chrono::seconds(leeway);
  EXPECT_EQ(outcome_with_exp(now - leeway + 1), "ok");
  EXPECT_EQ(outcome_with_exp(now - leeway), "expired");
  EXPECT_EQ(outcome_with_exp(now - leeway - 1), "expired");
}

TEST_F(VerifierClaims, ReadsFractionalDates) {
  EXPECT_EQ(outcome(R"({"exp":1700000000.5})"), "ok");
  EXPECT_EQ(outcome(R"({"exp":1699999999.5})"), "expired");
  EXPECT_EQ(outcome(R"({"exp":1.7e9})"), "expired");
}

TEST_F(VerifierClaims, RefusesDatesThatAreNotNumbers) {
  EXPECT_EQ(outcome(R"({"exp":"1700000600"})"), "malformed");
  EXPECT_EQ(outcome(R"({"exp":null})"), "malformed");
  EXPECT_EQ(outcome(R"({"nbf":true})"), "malformed");
  EXPECT_EQ(outcome(R"({"iat":[1]})"), "malformed");
}

TEST_F(VerifierClaims, RefusesATokenNotYetValid) {
  EXPECT_EQ(outcome(R"({"nbf":1700000000})"), "ok");
  EXPECT_EQ(outcome(R"({"nbf":1700000001})"), "not_yet_valid");
  options_.leeway = std::chrono::seconds(leeway);
  EXPECT_EQ(outcome(R"({"nbf":1700000030})"), "ok");
  EXPECT_EQ(outcome(R"({"nbf":1700000031})"), "not_yet_valid");
}

TEST_F(VerifierClaims, RefusesATokenIssuedInTheFuture) {
  EXPECT_EQ(outcome(R"({"iat":1700000000})"), "ok");
  EXPECT_EQ(outcome(R"({"iat":1700000001})"), "not_yet_valid");
  options_.leeway = std::chrono::seconds(leeway);
  EXPECT_EQ(outcome(R"({"iat":1700000030})"), "ok");
  EXPECT_EQ(outcome(R"({"iat":1700000031})"), "not_yet_valid");
}

TEST_F(VerifierClaims, RefusesTheWrongIssuer) {
  options_.issuer = "https://idp.example";
  EXPECT_EQ(outcome(R"({"iss":"https://idp.example"})"), "ok");
  EXPECT_EQ(outcome(R"({"iss":"https://idp.example/"})"), "wrong_issuer");
  EXPECT_EQ(outcome(R"({"iss":"https://evil.example"})"), "wrong_issuer");
  EXPECT_EQ(outcome(R"({"iss":["https://idp.example"]})"), "wrong_issuer");
  EXPECT_EQ(outcome("{}"), "wrong_issuer");
}

TEST_F(VerifierClaims, IgnoresTheIssuerWhenNoneIsConfigured) {
  EXPECT_EQ(outcome(R"({"iss":"https://anyone.example"})"), "ok");
}

TEST_F(VerifierClaims, AcceptsAnAudienceAsStringOrArray) {
  options_.audience = {"orders-api", "billing-api"};
  EXPECT_EQ(outcome(R"({"aud":"orders-api"})"), "ok");
  EXPECT_EQ(outcome(R"({"aud":"billing-api"})"), "ok");
  EXPECT_EQ(outcome(R"({"aud":["other","billing-api"]})"), "ok");
}

TEST_F(VerifierClaims, RefusesTheWrongAudience) {
  options_.audience = {"orders-api"};
  EXPECT_EQ(outcome(R"({"aud":"orders"})"), "wrong_audience");
  EXPECT_EQ(outcome(R"({"aud":["other","another"]})"), "wrong_audience");
  EXPECT_EQ(outcome(R"({"aud":[]})"), "wrong_audience");
  EXPECT_EQ(outcome(R"({"aud":{"orders-api":true}})"), "wrong_audience");
  EXPECT_EQ(outcome("{}"), "wrong_audience");
}

TEST_F(VerifierClaims, ChecksExpiryBeforeIssuerAndAudience) {
  options_.issuer = "https://idp.example";
  options_.audience = {"orders-api"};
  EXPECT_EQ(outcome(R"({"exp":1,"iss":"x","aud":"y"})"), "expired");
  EXPECT_EQ(outcome(R"({"iss":"x","aud":"y"})"), "wrong_issuer");
}

TEST(FailureName, IsStableLowerCase) {
  EXPECT_EQ(failure_name(Failure::Malformed), "malformed");
  EXPECT_EQ(failure_name(Failure::AlgorithmNotAllowed), "algorithm_not_allowed");
  EXPECT_EQ(failure_name(Failure::UnknownKey), "unknown_key");
  EXPECT_EQ(failure_name(Failure::BadSignature), "bad_signature");
  EXPECT_EQ(failure_name(Failure::Expired), "expired");
  EXPECT_EQ(failure_name(Failure::NotYetValid), "not_yet_valid");
  EXPECT_EQ(failure_name(Failure::WrongIssuer), "wrong_issuer");
  EXPECT_EQ(failure_name(Failure::WrongAudience), "wrong_audience");
}

}  // namespace
}  // namespace portico::jwt
