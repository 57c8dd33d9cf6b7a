// GET /admin/routes: the routes of a runtime snapshot as the admin API shows them.
#pragma once

#include <boost/json/value.hpp>

#include "proxy/runtime.h"

namespace portico::admin {

// {"version": N, "routes": [{"name", "match", "filters", "action", "upstream"?, "reason"?}]}
boost::json::value routes_json(const proxy::Runtime& runtime);

}  // namespace portico::admin
