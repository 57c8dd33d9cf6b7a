#include "stores/redis/cluster_slots.h"

#include <charconv>

namespace portico::stores::redis {

namespace {

bool parse_int(std::string_view text, long long max, long long& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size() && out >= 0 &&
         out <= max;
}

}  // namespace

Redirect parse_redirect(const RedisReply& reply) {
  Redirect out;
  Redirect::Kind kind;
  std::string_view rest{reply.text};
  if (reply.is_error("MOVED")) {
    kind = Redirect::Kind::Moved;
    rest.remove_prefix(6);
  } else if (reply.is_error("ASK")) {
    kind = Redirect::Kind::Ask;
    rest.remove_prefix(4);
  } else {
    return out;
  }
  auto space = rest.find(' ');
  if (space == std::string_view::npos) return out;
  std::string_view node = rest.substr(space + 1);
  // The port follows the last colon: an IPv6 address has colons of its own.
  auto colon = node.rfind(':');
  long long slot = 0, port = 0;
  if (colon == std::string_view::npos || !parse_int(rest.substr(0, space), slot_count - 1, slot) ||
      !parse_int(node.substr(colon + 1), 65535, port))
    return out;
  std::string_view host = node.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  out.kind = kind;
  out.slot = static_cast<int>(slot);
  out.node = NodeAddress{std::string{host}, static_cast<std::uint16_t>(port)};
  return out;
}

bool ClusterSlots::assign(const RedisReply& reply, const std::string& asked) {
  using Type = RedisReply::Type;
  if (reply.type != Type::Array) return false;
  ClusterSlots fresh;
  // Each entry: [first slot, last slot, [master host, port, id, ...], replicas...].
  for (const auto& range : reply.elements) {
    if (range.type != Type::Array || range.elements.size() < 3) return false;
    const auto& first = range.elements[0];
    const auto& last = range.elements[1];
    const auto& master = range.elements[2];
    if (first.type != Type::Integer || last.type != Type::Integer || first.integer < 0 ||
        last.integer >= slot_count || first.integer > last.integer)
      return false;
    if (master.type != Type::Array || master.elements.size() < 2 ||
        master.elements[0].type != Type::String || master.elements[1].type != Type::Integer ||
        master.elements[1].integer <= 0 || master.elements[1].integer > 65535)
      return false;
    NodeAddress node{master.elements[0].text,
                     static_cast<std::uint16_t>(master.elements[1].integer)};
    if (node.host.empty() || node.host == "?") node.host = asked;
    std::uint16_t index = fresh.index_of(node);
    for (auto slot = first.integer; slot <= last.integer; ++slot) fresh.slots_[slot] = index;
  }
  if (fresh.nodes_.empty()) return false;
  *this = std::move(fresh);
  return true;
}

const NodeAddress* ClusterSlots::node_of(int slot) const {
  if (slot < 0 || slot >= slot_count || slots_[slot] == unknown) return nullptr;
  return &nodes_[slots_[slot]];
}

void ClusterSlots::set(int slot, const NodeAddress& node) {
  if (slot < 0 || slot >= slot_count) return;
  slots_[slot] = index_of(node);
}

std::uint16_t ClusterSlots::index_of(const NodeAddress& node) {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i] == node) return static_cast<std::uint16_t>(i);
  nodes_.push_back(node);
  return static_cast<std::uint16_t>(nodes_.size() - 1);
}

}  // namespace portico::stores::redis
