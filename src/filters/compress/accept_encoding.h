// Accept-Encoding negotiation (RFC 9110 12.5.3), a pure function of the request's field and the
// server's preference, shared by the compress filter and the cache (which keys compressed
// entries by the encoding this picks).
#pragma once

#include <span>
#include <string_view>

namespace portico::filters::compress {

enum class Encoding { Identity, Gzip, Br, Zstd };

// The Content-Encoding token: "identity", "gzip", "br", "zstd".
std::string_view encoding_name(Encoding encoding);
// A content-coding token, case-insensitive ("x-gzip" is gzip); Identity for any other.
Encoding encoding_from_name(std::string_view name);

// The encoding to answer with, given the request's Accept-Encoding (all its fields joined;
// empty when absent) and the server's preference, most preferred first. The coding with the
// highest q the client gives wins, the server's order breaking ties; `*` stands for every coding
// not named; q=0 refuses. Identity when nothing in `preference` is acceptable, when the field is
// absent or empty, or when the client rates identity itself above every coding it accepts.
// Malformed list members are skipped, as if not sent.
Encoding negotiate(std::string_view accept_encoding, std::span<const Encoding> preference);

}  // namespace portico::filters::compress
