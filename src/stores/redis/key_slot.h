// Redis Cluster's key to slot mapping (the cluster specification's "Keys distribution model").
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::stores::redis {

inline constexpr int slot_count = 16384;

// CRC16, the XMODEM variant (polynomial 0x1021, initial value 0, no reflection).
std::uint16_t crc16(std::string_view bytes);

// The slot of `key`: only the part between the first "{" and the next "}" is hashed when that
// part is not empty (a hash tag), so that "{user1}.a" and "{user1}.b" share a slot.
int key_slot(std::string_view key);

}  // namespace portico::stores::redis
