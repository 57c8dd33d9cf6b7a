// Checks of the PEM files a config names, made while reading it so that an error points at the
// line that names the file.
#pragma once

#include <string>

namespace portico::config {

// Empty when `path` holds at least one PEM certificate; otherwise why not.
std::string certificate_file_problem(const std::string& path);
// Empty when `path` holds a PEM private key; otherwise why not.
std::string key_file_problem(const std::string& path);
// Empty when the key in `key_path` belongs to the first certificate in `cert_path`.
std::string key_mismatch_problem(const std::string& cert_path, const std::string& key_path);

}  // namespace portico::config
