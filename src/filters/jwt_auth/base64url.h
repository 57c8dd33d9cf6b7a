// base64url without padding, the encoding of every JWS segment and JWK number (RFC 7515 §2).
#pragma once

#include <string>
#include <string_view>

namespace portico::jwt {

// Replaces `out` with the bytes `text` encodes. False, for any input, on a character outside
// A-Z a-z 0-9 - _ (padding included), a length no encoding has, or unused low bits that are
// not zero: each byte string has exactly one accepted spelling, so a signed token cannot be
// re-spelled into another token that still verifies.
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace portico::jwt
