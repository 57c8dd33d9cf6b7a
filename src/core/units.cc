#include "core/units.h"

#include <charconv>

namespace portico::core {
namespace {

// Splits "123unit" into its number and suffix; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return std::pair{value, unit};
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  if (n > 1'000'000'000ull) return std::nullopt;
  auto count = static_cast<std::int64_t>(n);
  if (unit == "ms") return Duration(count);
  if (unit == "s") return std::chrono::seconds(count);
  if (unit == "m" || unit == "min") return std::chrono::minutes(count);
  if (unit == "h") return std::chrono::hours(count);
  return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [n, unit] = *parts;
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "GiB")
    scale = 1ull << 30;
  else if (unit == "KB")
    scale = 1000;
  else if (unit == "MB")
    scale = 1000 * 1000;
  else if (unit == "GB")
    scale = 1000 * 1000 * 1000;
  else
    return std::nullopt;
  if (n > UINT64_MAX / scale) return std::nullopt;
  return n * scale;
}

std::optional<Rate> parse_rate(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto parts = split_number(text.substr(0, slash));
  if (!parts || !parts->second.empty() || parts->first == 0) return std::nullopt;
  auto unit = text.substr(slash + 1);
  Rate rate{parts->first, Duration(0)};
  if (unit == "s")
    rate.per = std::chrono::seconds(1);
  else if (unit == "min" || unit == "m")
    rate.per = std::chrono::minutes(1);
  else if (unit == "h")
    rate.per = std::chrono::hours(1);
  else
    return std::nullopt;
  return rate;
}

std::optional<double> parse_percent(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (percent) value /= 100.0;
  if (value < 0 || value > 1) return std::nullopt;
  return value;
}

}  // namespace portico::core
