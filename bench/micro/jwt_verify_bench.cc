// Verifications per second of a typical access token by algorithm (the signature check and
// claims, no cache), and a TokenCache hit, which is what a route pays for a token seen before.
//   ninja -C build portico_jwt_bench && build/src/filters/jwt_auth/portico_jwt_bench
#include <benchmark/benchmark.h>

#include "filters/jwt_auth/test_tokens.h"
#include "filters/jwt_auth/token_cache.h"
#include "filters/jwt_auth/verifier.h"

namespace {

using namespace portico::jwt;

constexpr std::int64_t now = 1'700'000'000;
constexpr std::string_view claims =
    R"({"iss":"https://idp.example","sub":"3f1c2a9e-5b7d-4e2a-9c1f-7a8b6d5e4c3b",)"
    R"("aud":["orders-api"],"exp":1700003600,"iat":1699999000,"roles":["customer","beta"],)"
    R"("scope":"orders:read orders:write profile","email":"ada@example.com"})";

struct Setup {
  std::string token;
  KeySet keys;
};

Setup setup_for(Algorithm algorithm) {
  const test::TestKeys& keys = test::test_keys();
  EVP_PKEY* key = nullptr;
  if (algorithm == Algorithm::RS256) key = keys.rsa.get();
  if (algorithm == Algorithm::ES256) key = keys.ec256.get();
  if (algorithm == Algorithm::EdDSA) key = keys.ed25519.get();
  const std::string secret = "a secret of at least thirty-two bytes";
  return {
      test::sign({algorithm, secret, key, ""}, claims),
      test::loaded(key ? KeySet::from_pem(test::public_pem(key)) : KeySet::from_secret(secret))};
}

Verifier verifier_for(Algorithm algorithm) {
  VerifierOptions options;
  options.algorithms = {std::string(algorithm_name(algorithm))};
  options.issuer = "https://idp.example";
  options.audience = {"orders-api"};
  options.forward_claims = {{"sub", "X-User-Id"}, {"email", "X-User-Email"}};
  return Verifier(options);
}

void verify(benchmark::State& state, Algorithm algorithm) {
  const Setup setup = setup_for(algorithm);
  const Verifier verifier = verifier_for(algorithm);
  for (auto _ : state) {
    VerifyResult result = verifier.verify(setup.token, setup.keys, now);
    if (!result.ok()) state.SkipWithError("token refused");
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(verify, HS256, Algorithm::HS256);
BENCHMARK_CAPTURE(verify, RS256_2048, Algorithm::RS256);
BENCHMARK_CAPTURE(verify, ES256, Algorithm::ES256);
BENCHMARK_CAPTURE(verify, EdDSA, Algorithm::EdDSA);

// Every thread looks up the same token: the worst case for the shard lock.
void cache_hit(benchmark::State& state) {
  static TokenCache cache;
  static const Setup setup = setup_for(Algorithm::RS256);
  if (state.thread_index() == 0) {
    const VerifyResult result = verifier_for(Algorithm::RS256).verify(setup.token, setup.keys, now);
    cache.insert(setup.token, result.token, now);
  }
  for (auto _ : state) {
    auto hit = cache.find(setup.token, now);
    if (!hit) state.SkipWithError("cache miss");
    benchmark::DoNotOptimize(hit);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(cache_hit)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
