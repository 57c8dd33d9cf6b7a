#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace portico::core {
namespace {

enum Level { Trace, Debug, Info, Warn, Error, Off };
std::atomic<int> threshold{Info};
std::mutex write_mutex;  // lines from the control thread and workers must not interleave

void write(Level level, std::string_view tag, std::string_view message) {
  if (level < threshold.load(std::memory_order_relaxed)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line;
  line.reserve(64 + tag.size() + message.size());
  line.append(stamp).append(" ").append(tag).append(" ").append(message).append("\n");
  std::lock_guard lock(write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void set_log_level(std::string_view level) {
  int value = Info;
  if (level == "trace")
    value = Trace;
  else if (level == "debug")
    value = Debug;
  else if (level == "info")
    value = Info;
  else if (level == "warn")
    value = Warn;
  else if (level == "error")
    value = Error;
  else if (level == "off")
    value = Off;
  threshold.store(value);
}

void log_info(std::string_view message) {
  write(Info, "info", message);
}
void log_warn(std::string_view message) {
  write(Warn, "warn", message);
}
void log_error(std::string_view message) {
  write(Error, "error", message);
}

}  // namespace portico::core
