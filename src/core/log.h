// Operational log lines on stderr ("2026-11-28T17:40:50.123Z warn message"), filtered by
// observability.log_level. Not the access log: that is observability/access_log.h.
#pragma once

#include <string_view>

namespace portico::core {

void set_log_level(std::string_view level);  // trace debug info warn error off
void log_info(std::string_view message);
void log_warn(std::string_view message);
void log_error(std::string_view message);

}  // namespace portico::core
