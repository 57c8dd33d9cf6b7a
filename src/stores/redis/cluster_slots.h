// Which node of a Redis Cluster serves which slot, as CLUSTER SLOTS and MOVED replies say.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stores/redis/key_slot.h"
#include "stores/redis/redis_reply.h"

namespace portico::stores::redis {

struct NodeAddress {
  std::string host;
  std::uint16_t port = 0;

  bool operator==(const NodeAddress&) const = default;
};

// A MOVED or ASK error reply ("MOVED 3999 127.0.0.1:6381"), taken apart.
struct Redirect {
  enum class Kind { None, Moved, Ask };
  Kind kind = Kind::None;
  int slot = -1;
  NodeAddress node;
};
Redirect parse_redirect(const RedisReply& reply);

class ClusterSlots {
 public:
  ClusterSlots() { slots_.fill(unknown); }

  // Replaces the map with a CLUSTER SLOTS reply (masters only). `asked` stands in for nodes
  // listed without a host, which Redis does for the node that answered. False, and the map
  // unchanged, when the reply is not a slot map.
  bool assign(const RedisReply& reply, const std::string& asked);
  // The master serving `slot`, or null when no map says.
  const NodeAddress* node_of(int slot) const;
  void set(int slot, const NodeAddress& node);  // after a MOVED
  bool empty() const { return nodes_.empty(); }
  const std::vector<NodeAddress>& nodes() const { return nodes_; }

 private:
  static constexpr std::uint16_t unknown = 0xffff;
  std::uint16_t index_of(const NodeAddress& node);
  std::vector<NodeAddress> nodes_;
  std::array<std::uint16_t, slot_count> slots_;
};

}  // namespace portico::stores::redis
