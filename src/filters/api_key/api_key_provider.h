// `type: api_key`: the client sends a key in a header; the key names its consumer. Keys are
// held as SHA-256 digests and looked up by digest, so neither the lookup's timing nor a memory
// dump tells anything about a valid key.
#pragma once

#include <array>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "filters/auth/auth_provider.h"

namespace portico::filters::api_key {

class ApiKeyProvider final : public auth::AuthProvider {
 public:
  // Reads `keys_file` when set (a YAML map key -> consumer); throws std::runtime_error with a
  // message naming the file when it cannot.
  explicit ApiKeyProvider(const auth::AuthProviderConfig& config);

  auth::AuthResult authenticate(proxy::RequestContext& ctx) const override;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const;
  };
  void add_key(std::string_view key, std::string consumer);

  std::string header_;
  std::unordered_map<Digest, std::string, DigestHash> consumers_;  // digest of key -> consumer
};

}  // namespace portico::filters::api_key
