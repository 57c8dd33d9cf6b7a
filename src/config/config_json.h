// The effective config as JSON, for `GET /admin/config`: defaults filled in, secrets as "***".
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "config/config.h"

namespace portico::config {

// Durations and rates come out in the config file's own notation ("2s", "100/s"), so a value
// can be pasted back into portico.yaml.
boost::json::value config_to_json(const Config& config);

// "250ms", "2s", "5m", "1h": the largest unit that writes `duration` exactly.
std::string format_duration(Duration duration);

// `url` with the password of its user info replaced by "***" (redis://:***@host:6379/0).
std::string mask_url_password(std::string_view url);

}  // namespace portico::config
