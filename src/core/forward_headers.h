// Header rules of behaviour.md "Headers": hop-by-hop removal, Connection-named headers,
// repeated-field joining, request ids, and the X-Forwarded-* / Forwarded set.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/request_head.h"

namespace portico::core {

// Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-* (RFC 9110 7.6.1).
bool is_hop_by_hop(std::string_view name);

// A WebSocket opening handshake (RFC 6455 4.1): GET with `Upgrade: websocket` and `Connection`
// naming upgrade. Asked before the hop-by-hop fields are removed.
bool is_websocket_upgrade(const core::RequestHead& head);

// Removes hop-by-hop fields and every field named in a Connection header, in place.
void remove_hop_by_hop(std::vector<core::HeaderField>& fields);

// Joins repeated fields into one, comma-separated ("; " for Cookie), keeping the first one's
// position. Joined values are written to `storage`, which must outlive the fields.
void join_repeated_fields(std::vector<core::HeaderField>& fields, std::string& storage);

// A client-sent request id is kept when printable and at most 128 bytes.
bool is_valid_request_id(std::string_view id);

// Appends the forwarded-for element of `Forwarded` for an address ("1.2.3.4" or "\"[::1]\"").
void append_forwarded_node(std::string& out, std::string_view ip);

}  // namespace portico::core
