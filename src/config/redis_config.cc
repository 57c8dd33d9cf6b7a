#include "config/redis_config.h"

#include "config/yaml_reader.h"

namespace portico::config {

std::optional<RedisConfig> read_redis_config(YamlReader& r, const std::optional<Field>& field,
                                             std::string_view example) {
  auto f = r.mapping(field, yaml_keys<RedisConfig>());
  if (!f) return std::nullopt;
  RedisConfig out;
  if (f->has("url") && f->has("cluster")) {
    r.error(*f->get("cluster"), "give either url (one server) or cluster (seed nodes), not both");
  } else if (!f->has("url") && !f->has("cluster")) {
    r.error(f->self(),
            "missing key \"url\" (" + std::string(example) + ") or \"cluster\" ([host:port, ...])");
  }
  assign(r.url(f->get("url"), {"redis", "rediss"}), out.url);
  if (auto nodes = r.list(f->get("cluster"))) {
    if (nodes->empty()) r.error(*f->get("cluster"), "expected at least one host:port");
    for (const auto& node : *nodes) {
      if (auto endpoint = r.endpoint(node)) out.cluster.push_back(endpoint->text);
    }
  }
  assign(r.duration(f->get("timeout")), out.timeout);
  assign(r.text(f->get("password")), out.password);
  return out;
}

}  // namespace portico::config
