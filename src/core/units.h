// Parsing of the config's value kinds: durations, sizes, rates (config.md "Conventions").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portico::core {

using Duration = std::chrono::milliseconds;

// "250ms", "2s", "5m", "1h" (a bare number is rejected: the unit is part of the contract).
std::optional<Duration> parse_duration(std::string_view text);

// "1024", "16KiB", "10MiB", "1GiB" (also KB/MB/GB as powers of 1000).
std::optional<std::uint64_t> parse_size(std::string_view text);

struct Rate {
  std::uint64_t count = 0;
  Duration per{0};
  bool operator==(const Rate&) const = default;
};

// "100/s", "1000/min", "10/h".
std::optional<Rate> parse_rate(std::string_view text);

// "50%" -> 0.5; a plain number 0..1 is also accepted.
std::optional<double> parse_percent(std::string_view text);

}  // namespace portico::core
