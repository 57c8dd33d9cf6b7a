// Body bytes a parser produced from one input buffer, as views into that buffer, so the
// session can forward them without a copy before it reads again.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace portico::core {

struct BodyPieces {
  std::vector<std::string_view> pieces;
  std::uint64_t bytes = 0;
  void add(std::string_view piece) {
    if (piece.empty()) return;
    pieces.push_back(piece);
    bytes += piece.size();
  }
  void clear() {
    pieces.clear();
    bytes = 0;
  }
};

}  // namespace portico::core
