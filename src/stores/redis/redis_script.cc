#include "stores/redis/redis_script.h"

#include <openssl/sha.h>

namespace portico::stores::redis {

RedisScript::RedisScript(std::string lua) : lua_(std::move(lua)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(lua_.data()), lua_.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  sha1_.reserve(2 * SHA_DIGEST_LENGTH);
  for (unsigned char byte : digest) {
    sha1_ += hex[byte >> 4];
    sha1_ += hex[byte & 15];
  }
}

}  // namespace portico::stores::redis
