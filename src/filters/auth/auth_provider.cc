#include "filters/auth/auth_provider.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace portico::filters::auth {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace

bool AuthProvider::unchanged_for(const AuthProviderConfig& config) const {
  return config == config_ && std::ranges::all_of(key_files_, [](const auto& file) {
           return read_text(file.first) == file.second;
         });
}

const std::string& AuthProvider::read_key_file(std::string_view key, const std::string& path) {
  auto text = read_text(path);
  if (!text)
    throw std::runtime_error("auth." + name() + "." + std::string(key) + ": cannot read " + path);
  return key_files_.emplace_back(path, std::move(*text)).second;
}

}  // namespace portico::filters::auth
