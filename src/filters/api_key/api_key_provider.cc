#include "filters/api_key/api_key_provider.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <stdexcept>

namespace portico::filters::api_key {

namespace {

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

}  // namespace

std::size_t ApiKeyProvider::DigestHash::operator()(const Digest& d) const {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);  // a digest's bytes are already uniformly spread
  return h;
}

ApiKeyProvider::ApiKeyProvider(const auth::AuthProviderConfig& config)
    : AuthProvider(config), header_(config.header) {
  for (const auto& [key, consumer] : config.keys) add_key(key, consumer);
  if (config.keys_file.empty()) return;
  const std::string& text = read_key_file("keys_file", config.keys_file);
  YAML::Node file;
  try {
    file = YAML::Load(text);
  } catch (const std::exception& e) {
    throw std::runtime_error("auth." + config.name + ".keys_file: cannot read " + config.keys_file +
                             ": " + e.what());
  }
  if (!file.IsMap())
    throw std::runtime_error("auth." + config.name + ".keys_file: " + config.keys_file +
                             " must be a map of key: consumer");
  for (const auto& entry : file) {
    if (!entry.first.IsScalar() || !entry.second.IsScalar())
      throw std::runtime_error("auth." + config.name + ".keys_file: " + config.keys_file +
                               ": every entry must be key: consumer");
    add_key(entry.first.Scalar(), entry.second.Scalar());
  }
}

void ApiKeyProvider::add_key(std::string_view key, std::string consumer) {
  consumers_[sha256(key)] = std::move(consumer);
}

auth::AuthResult ApiKeyProvider::authenticate(proxy::RequestContext& ctx) const {
  auto key = ctx.head->find(header_);
  if (key.empty()) return auth::AuthResult::fail(auth::Failure::Missing);
  auto it = consumers_.find(sha256(key));
  if (it == consumers_.end()) return auth::AuthResult::fail(auth::Failure::InvalidKey);
  ctx.identity = {};
  ctx.identity.provider = name();
  ctx.identity.consumer = it->second;
  return auth::AuthResult::pass();
}

}  // namespace portico::filters::api_key
