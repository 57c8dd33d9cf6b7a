#include "stores/redis/redis_clients.h"

#include <stdexcept>

#include "core/log.h"

namespace portico::stores::redis {

RedisClient* RedisClients::client_for(const config::RedisConfig& config) {
  std::string key =
      config.url + '\n' + config.password + '\n' + std::to_string(config.timeout.count());
  for (const auto& node : config.cluster) key += '\n' + node;
  auto it = clients_.find(key);
  if (it != clients_.end()) return it->second.get();
  RedisOptions options;
  options.url = config.url;
  options.cluster = config.cluster;
  options.password = config.password;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout);
  try {
    auto client = std::make_unique<RedisClient>(io_, std::move(options));
    return clients_.emplace(std::move(key), std::move(client)).first->second.get();
  } catch (const std::exception& e) {
    core::log_error(std::string("redis: cannot make a client: ") + e.what());
    return nullptr;
  }
}

void RedisClients::close() {
  for (auto& [key, client] : clients_) client->close();
}

}  // namespace portico::stores::redis
