#include "admin/routes_view.h"

#include <boost/json.hpp>

#include "actions/respond/respond_action.h"

namespace portico::admin {

namespace json = boost::json;

json::value routes_json(const proxy::Runtime& runtime) {
  static constexpr const char* kinds[] = {"prefix", "path", "regex"};
  json::array routes;
  for (const auto& route : runtime.routes) {
    const auto& c = *route.config;
    json::object match;
    match[kinds[static_cast<int>(c.match.kind())]] = c.match.pattern();
    if (!c.match.methods.empty()) match["methods"] = json::value_from(c.match.methods);
    if (!c.match.host.empty()) match["host"] = c.match.host;
    json::object entry;
    entry["name"] = route.name;
    entry["match"] = std::move(match);
    json::array filters;
    if (!c.strip_prefix.empty()) filters.emplace_back("strip_prefix");
    if (!c.rewrite.empty()) filters.emplace_back("rewrite");
    if (!c.set_headers.empty()) filters.emplace_back("set_headers");
    if (!c.remove_headers.empty()) filters.emplace_back("remove_headers");
    if (!c.response_headers.empty()) filters.emplace_back("response_headers");
    entry["filters"] = std::move(filters);
    auto action = route.action->name();
    entry["action"] = std::string(action);
    if (action == "proxy") entry["upstream"] = runtime.upstreams[route.upstream].name;
    if (const auto* not_built =
            dynamic_cast<const actions::respond::NotBuiltAction*>(route.action.get()))
      entry["reason"] = not_built->reason();
    routes.push_back(std::move(entry));
  }
  return json::object{{"version", runtime.version}, {"routes", std::move(routes)}};
}

}  // namespace portico::admin
