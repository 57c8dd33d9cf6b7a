// The dashboard served at GET / on the admin listener: one self-contained HTML page that polls
// /metrics, /admin/routes, /admin/upstreams and /admin/stats every 2 s.
#pragma once

#include <string_view>

namespace portico::admin {

std::string_view dashboard_page();

}  // namespace portico::admin
