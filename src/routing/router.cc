#include "routing/router.h"

#include <re2/re2.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "core/ascii.h"
#include "routing/path_normalizer.h"

namespace portico::routing {
namespace {

using config::RouteMatch;
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
// Up to this many distinct methods every Allow string is built up front (2^12 of them at most);
// beyond it they are built on first use.
constexpr std::size_t kEagerAllowMethods = 12;
constexpr std::size_t kMaxMethods = 64;  // one bit each in a route's method mask

enum class SegmentKind : std::uint8_t { Literal, Param, CatchAll };

struct Segment {
  SegmentKind kind = SegmentKind::Literal;
  std::string text;  // normalized literal, or the parameter's name
};

struct ValueCondition {
  std::string name;
  std::string value;
  std::unique_ptr<RE2> re;  // set when the value was written with `~`
};

struct CompiledRoute {
  std::size_t index = 0;
  RouteMatch::Kind kind = RouteMatch::Kind::Prefix;
  std::vector<Segment> segments;  // path template or prefix, leading '/' dropped
  std::unique_ptr<RE2> path_re;
  std::vector<std::pair<int, std::string>> re_groups;  // named capture groups, by group index
  std::uint64_t methods = 0;                           // 0 = every method
  std::string host;                                    // lower case; "" = any
  bool host_wildcard = false;                          // host holds ".example.com"
  std::vector<ValueCondition> headers;
  std::vector<ValueCondition> query;
  std::uint64_t rank = 0;  // higher wins; unique per route
};

struct Node {
  std::vector<std::pair<std::string, std::uint32_t>> literals;  // sorted by segment
  std::uint32_t param = kNone;
  std::vector<std::uint32_t> exact;      // templates that end at this node
  std::vector<std::uint32_t> catch_all;  // templates whose {name...} follows this node
  std::vector<std::uint32_t> prefix;     // prefixes that end at this node
};

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query text is form-encoded: '+' is a space and %XX a byte. A '%' without two hex digits
// after it stands for itself, as browsers and most servers read it.
char next_decoded(std::string_view s, std::size_t& i) {
  const char c = s[i];
  if (c == '+') {
    ++i;
    return ' ';
  }
  if (c == '%' && i + 2 < s.size()) {
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi >= 0 && lo >= 0) {
      i += 3;
      return static_cast<char>(hi * 16 + lo);
    }
  }
  ++i;
  return c;
}

// Compares without building the decoded text, so exact query conditions never allocate.
bool decoded_equals(std::string_view encoded, std::string_view plain) {
  std::size_t i = 0, j = 0;
  while (i < encoded.size()) {
    if (j == plain.size() || next_decoded(encoded, i) != plain[j]) return false;
    ++j;
  }
  return j == plain.size();
}

void decode_into(std::string_view encoded, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < encoded.size();) out.push_back(next_decoded(encoded, i));
}

std::string route_label(const config::RouteConfig& route) {
  return "route '" + (route.name.empty() ? route.match.pattern() : route.name) + "'";
}

std::unique_ptr<RE2> compile_regex(const std::string& pattern, const std::string& what) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok())
    throw std::invalid_argument(what + ": bad regex '" + pattern + "': " + re->error());
  return re;
}

// Splits a written path or prefix into segments, normalizing each literal the way request
// paths are normalized so that "/caf%c3%a9" matches a request for "/caf%C3%A9".
std::vector<Segment> parse_segments(const std::string& pattern, bool templated,
                                    const std::string& label) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument(label + ": '" + pattern + "' must start with '/'");
  std::vector<Segment> segments;
  std::string normalized;
  std::size_t pos = 1;
  while (true) {
    const std::size_t end = std::min(pattern.find('/', pos), pattern.size());
    const std::string_view raw = std::string_view(pattern).substr(pos, end - pos);
    const bool last = end == pattern.size();
    if (!segments.empty() && segments.back().kind == SegmentKind::CatchAll)
      throw std::invalid_argument(label + ": a {name...} segment must be the last one");
    if (raw.empty() && !last) {
      // Requests never have an empty segment in the middle ("//" is merged), so neither do we.
    } else if (templated && raw.size() >= 2 && raw.front() == '{' && raw.back() == '}') {
      std::string_view name = raw.substr(1, raw.size() - 2);
      SegmentKind kind = SegmentKind::Param;
      if (name.ends_with("...")) {
        name.remove_suffix(3);
        kind = SegmentKind::CatchAll;
      }
      if (name.empty() || name.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument(label + ": bad parameter segment '" + std::string(raw) + "'");
      segments.push_back({kind, std::string(name)});
    } else if (raw.empty()) {
      segments.push_back({SegmentKind::Literal, ""});  // the trailing slash of "/a/"
    } else {
      if (templated && raw.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument(label + ": parameters must be whole segments, got '" +
                                    std::string(raw) + "'");
      // Built by appending: GCC 12 misreports `"/" + std::string` as an overlapping memcpy.
      std::string segment = "/";
      segment += raw;
      const NormalizeResult r = normalize_path(segment, normalized);
      if (r != NormalizeResult::Ok || normalized.size() < 2)
        throw std::invalid_argument(label + ": segment '" + std::string(raw) +
                                    "' can never match a normalized request path");
      segments.push_back({SegmentKind::Literal, normalized.substr(1)});
    }
    if (last) break;
    pos = end + 1;
  }
  return segments;
}

// Everything the router built from the config; read-only once the constructor returns.
struct RouteTable {
  std::vector<CompiledRoute> routes;
  std::vector<Node> nodes{1};  // nodes[0] is the root
  std::vector<std::uint32_t> regex_routes;
  std::vector<std::string> methods;  // distinct, in the order first written

  std::string allow_arena;  // eager Allow strings; allow_offsets[mask] .. [mask + 1]
  std::vector<std::uint32_t> allow_offsets;
  mutable std::mutex allow_mutex;
  mutable std::map<std::uint64_t, std::string> allow_cache;  // nodes never move: views stay valid

  std::uint32_t child(std::uint32_t node, const Segment& segment) {
    if (segment.kind == SegmentKind::Param) {
      if (nodes[node].param == kNone) {
        nodes[node].param = static_cast<std::uint32_t>(nodes.size());
        nodes.emplace_back();
      }
      return nodes[node].param;
    }
    auto& literals = nodes[node].literals;
    auto it =
        std::lower_bound(literals.begin(), literals.end(), segment.text,
                         [](const auto& entry, const std::string& s) { return entry.first < s; });
    if (it != literals.end() && it->first == segment.text) return it->second;
    const auto id = static_cast<std::uint32_t>(nodes.size());
    literals.insert(it, {segment.text, id});
    nodes.emplace_back();
    return id;
  }

  std::uint64_t method_bit(const std::string& method, const std::string& label) {
    auto it = std::find(methods.begin(), methods.end(), method);
    if (it == methods.end()) {
      if (methods.size() == kMaxMethods)
        throw std::invalid_argument(label + ": more than 64 distinct methods in the routes");
      methods.push_back(method);
      it = methods.end() - 1;
    }
    return std::uint64_t{1} << (it - methods.begin());
  }

  std::string join_methods(std::uint64_t mask) const {
    std::string out;
    for (std::size_t i = 0; i < methods.size(); ++i) {
      if (!(mask & (std::uint64_t{1} << i))) continue;
      if (!out.empty()) out += ", ";
      out += methods[i];
    }
    return out;
  }

  void build_allow_table() {
    if (methods.size() > kEagerAllowMethods) return;
    const std::uint64_t count = std::uint64_t{1} << methods.size();
    allow_offsets.reserve(count + 1);
    for (std::uint64_t mask = 0; mask < count; ++mask) {
      allow_offsets.push_back(static_cast<std::uint32_t>(allow_arena.size()));
      allow_arena += join_methods(mask);
    }
    allow_offsets.push_back(static_cast<std::uint32_t>(allow_arena.size()));
  }

  std::string_view allow(std::uint64_t mask) const {
    if (!allow_offsets.empty())
      return std::string_view(allow_arena)
          .substr(allow_offsets[mask], allow_offsets[mask + 1] - allow_offsets[mask]);
    // Only configs with more than 12 distinct methods get here, and only to answer 405,
    // so a lock is cheaper than a table of 2^n strings built at startup.
    std::lock_guard lock(allow_mutex);
    auto [it, inserted] = allow_cache.try_emplace(mask);
    if (inserted) it->second = join_methods(mask);
    return it->second;
  }
};

// Orders routes by config.md "Which route wins": kind, then how specific its path is, then
// its number of conditions, then the order written.
std::uint64_t rank_of(const CompiledRoute& r, const RouteMatch& m) {
  std::uint64_t kind = 0, specificity = 0, no_catch_all = 0;
  std::size_t literals = 0;
  bool params = false, catch_all = false;
  for (const auto& s : r.segments) {
    if (s.kind == SegmentKind::Literal) ++literals;
    if (s.kind != SegmentKind::Literal) params = true;
    if (s.kind == SegmentKind::CatchAll) catch_all = true;
  }
  switch (r.kind) {
    case RouteMatch::Kind::Path:
      kind = params ? 2 : 3;
      specificity = literals;
      no_catch_all = catch_all ? 0 : 1;  // "/a/{id}" is narrower than "/a/{rest...}"
      break;
    case RouteMatch::Kind::Prefix:
      kind = 1;
      specificity = literals;
      break;
    case RouteMatch::Kind::Regex:
      kind = 0;
      break;
  }
  const std::uint64_t conditions =
      (m.methods.empty() ? 0 : 1) + (m.host.empty() ? 0 : 1) + m.headers.size() + m.query.size();
  return kind << 62 | std::min<std::uint64_t>(specificity, 0x3fff) << 48 | no_catch_all << 47 |
         std::min<std::uint64_t>(conditions, 0x7fff) << 32 |
         (0xffffffffu - std::min<std::uint64_t>(r.index, 0xffffffffu));
}

std::vector<ValueCondition> compile_values(const std::vector<config::ValueMatch>& values,
                                           const std::string& what) {
  std::vector<ValueCondition> out;
  for (const auto& v : values) {
    ValueCondition c{v.name, v.value, nullptr};
    if (v.regex) c.re = compile_regex(v.value, what + " " + v.name);
    out.push_back(std::move(c));
  }
  return out;
}

// The host as the route conditions see it: port, IPv6 brackets and a final '.' removed.
std::string_view request_host(const core::RequestHead& request) {
  std::string_view host = trim_ows(request.find("host"));
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? std::string_view{} : host.substr(1, close - 1);
  }
  host = host.substr(0, host.find(':'));
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

// One request's walk over the table; lives on the stack so matching allocates nothing.
class Matcher {
 public:
  Matcher(const RouteTable& table, const core::RequestHead& request)
      : t_(table), request_(request), path_(request.path) {
    for (std::size_t i = 0; i < t_.methods.size(); ++i)
      if (t_.methods[i] == request.method) method_bit_ = std::uint64_t{1} << i;
  }

  MatchResult run() {
    if (!path_.empty() && path_.front() == '/') walk(0, 0);
    // Every regex route ranks below every path and prefix route, so they only run when the
    // trie found nothing.
    if (best_ == nullptr) {
      for (std::uint32_t id : t_.regex_routes) {
        const auto& r = t_.routes[id];
        if (RE2::FullMatch(path_, *r.path_re)) consider(r, 0);
      }
    }
    MatchResult result;
    if (best_ != nullptr) {
      result.status = MatchStatus::Matched;
      result.route_index = best_->index;
      capture(*best_, result.params);
    } else if (allow_mask_ != 0) {
      result.status = MatchStatus::MethodNotAllowed;
      result.allow = t_.allow(allow_mask_);
    }
    return result;
  }

 private:
  // `pos` is the index of the '/' that starts the next segment, or path_.size() at the end.
  void walk(std::uint32_t node_id, std::size_t pos) {
    const Node& node = t_.nodes[node_id];
    for (std::uint32_t id : node.prefix) consider(t_.routes[id], pos);
    if (pos == path_.size()) {
      for (std::uint32_t id : node.exact) consider(t_.routes[id], pos);
      return;
    }
    for (std::uint32_t id : node.catch_all) consider(t_.routes[id], pos);
    const std::size_t next = std::min(path_.find('/', pos + 1), path_.size());
    const std::string_view segment = path_.substr(pos + 1, next - pos - 1);
    auto it = std::lower_bound(
        node.literals.begin(), node.literals.end(), segment,
        [](const auto& entry, std::string_view s) { return std::string_view(entry.first) < s; });
    if (it != node.literals.end() && it->first == segment) walk(it->second, next);
    if (node.param != kNone && !segment.empty()) walk(node.param, next);
  }

  void consider(const CompiledRoute& r, std::size_t pos) {
    // A route that cannot beat the current winner needs no checks: with a winner there is
    // no 405 to compute either.
    if (best_ != nullptr && r.rank <= best_->rank) return;
    if (!host_ok(r) || !headers_ok(r) || !query_ok(r)) return;
    if (r.methods != 0 && (r.methods & method_bit_) == 0) {
      allow_mask_ |= r.methods;
      return;
    }
    best_ = &r;
    best_pos_ = pos;
  }

  bool host_ok(const CompiledRoute& r) {
    if (r.host.empty()) return true;
    if (!host_parsed_) {
      host_ = request_host(request_);
      host_parsed_ = true;
    }
    if (!r.host_wildcard) return core::iequals(host_, r.host);
    // "*.example.com" needs at least one label in front: the bare domain does not match.
    return host_.size() > r.host.size() &&
           core::iequals(host_.substr(host_.size() - r.host.size()), r.host);
  }

  bool headers_ok(const CompiledRoute& r) const {
    for (const auto& c : r.headers) {
      bool found = false;
      for (const auto& field : request_.fields) {
        if (!core::iequals(field.name, c.name)) continue;
        const std::string_view value = trim_ows(field.value);
        if (c.re ? RE2::FullMatch(value, *c.re) : value == c.value) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }

  bool query_ok(const CompiledRoute& r) const {
    for (const auto& c : r.query)
      if (!query_has(c)) return false;
    return true;
  }

  bool query_has(const ValueCondition& c) const {
    const std::string_view query = request_.query;
    std::size_t pos = 0;
    while (pos <= query.size()) {
      const std::size_t end = std::min(query.find('&', pos), query.size());
      const std::string_view pair = query.substr(pos, end - pos);
      pos = end + 1;
      if (pair.empty()) continue;
      const std::size_t eq = std::min(pair.find('='), pair.size());
      if (!decoded_equals(pair.substr(0, eq), c.name)) continue;
      const std::string_view value = eq < pair.size() ? pair.substr(eq + 1) : std::string_view{};
      if (!c.re) {
        if (decoded_equals(value, c.value)) return true;
        continue;
      }
      // RE2 needs the decoded text in one piece; the buffer grows to the longest value seen
      // on this thread and is then reused.
      thread_local std::string scratch;
      decode_into(value, scratch);
      if (RE2::FullMatch(scratch, *c.re)) return true;
    }
    return false;
  }

  void capture(const CompiledRoute& r, PathParams& params) const {
    auto add = [&](std::string_view name, std::string_view value) {
      if (params.size < PathParams::capacity) params.items[params.size++] = {name, value};
    };
    switch (r.kind) {
      case RouteMatch::Kind::Prefix:
        add("rest", tail(best_pos_));
        break;
      case RouteMatch::Kind::Path: {
        std::size_t pos = 0;
        for (const auto& s : r.segments) {
          if (s.kind == SegmentKind::CatchAll) {
            add(s.text, tail(pos));
            break;
          }
          const std::size_t next = std::min(path_.find('/', pos + 1), path_.size());
          if (s.kind == SegmentKind::Param) add(s.text, path_.substr(pos + 1, next - pos - 1));
          pos = next;
        }
        break;
      }
      case RouteMatch::Kind::Regex: {
        if (r.re_groups.empty()) break;
        constexpr int kMaxGroups = 64;
        re2::StringPiece groups[kMaxGroups];
        const int n = std::min(kMaxGroups, r.re_groups.back().first + 1);
        if (!r.path_re->Match(path_, 0, path_.size(), RE2::ANCHOR_BOTH, groups, n)) break;
        for (const auto& [group, name] : r.re_groups)
          if (group < n) add(name, std::string_view(groups[group].data(), groups[group].size()));
        break;
      }
    }
  }

  // What follows the segment boundary at `pos`, without its leading '/'.
  std::string_view tail(std::size_t pos) const {
    return pos < path_.size() ? path_.substr(pos + 1) : std::string_view{};
  }

  const RouteTable& t_;
  const core::RequestHead& request_;
  std::string_view path_;
  std::uint64_t method_bit_ = 0;  // 0 when no route names this method
  bool host_parsed_ = false;
  std::string_view host_;
  const CompiledRoute* best_ = nullptr;
  std::size_t best_pos_ = 0;
  std::uint64_t allow_mask_ = 0;
};

}  // namespace

struct Router::Table : RouteTable {};

Router::Router(const std::vector<config::RouteConfig>& routes) : table_(std::make_unique<Table>()) {
  Table& t = *table_;
  t.routes.reserve(routes.size());
  for (std::size_t index = 0; index < routes.size(); ++index) {
    const auto& config = routes[index];
    const auto& m = config.match;
    const std::string label = route_label(config);
    CompiledRoute r;
    r.index = index;
    r.kind = m.kind();
    std::size_t param_count = 0;
    if (m.kind() == RouteMatch::Kind::Regex) {
      r.path_re = compile_regex(m.pattern(), label);
      for (const auto& [name, group] : r.path_re->NamedCapturingGroups())
        r.re_groups.emplace_back(group, name);
      std::sort(r.re_groups.begin(), r.re_groups.end());
      param_count = r.re_groups.size();
    } else {
      r.segments = parse_segments(m.pattern(), m.kind() == RouteMatch::Kind::Path, label);
      if (m.kind() == RouteMatch::Kind::Prefix) {
        // Whole segments: "/api/" means the same prefix as "/api", and "/" is every path.
        if (!r.segments.empty() && r.segments.back().text.empty()) r.segments.pop_back();
        param_count = 1;  // rest
      }
      for (const auto& s : r.segments)
        if (s.kind != SegmentKind::Literal) ++param_count;
    }
    if (param_count > PathParams::capacity)
      throw std::invalid_argument(label + ": more than " + std::to_string(PathParams::capacity) +
                                  " path parameters");
    for (const auto& method : m.methods) r.methods |= t.method_bit(method, label);
    if (!m.host.empty()) {
      for (char c : m.host) r.host.push_back(core::ascii_lower(c));
      if (r.host.back() == '.') r.host.pop_back();
      if (r.host.starts_with("*.")) {
        r.host_wildcard = true;
        r.host.erase(0, 1);  // keep the dot: "*.example.com" must not match "badexample.com"
      }
    }
    r.headers = compile_values(m.headers, label + " header");
    r.query = compile_values(m.query, label + " query");
    r.rank = rank_of(r, m);
    t.routes.push_back(std::move(r));
  }

  for (std::uint32_t id = 0; id < t.routes.size(); ++id) {
    const auto& r = t.routes[id];
    if (r.kind == RouteMatch::Kind::Regex) {
      t.regex_routes.push_back(id);
      continue;
    }
    std::uint32_t node = 0;
    bool catch_all = false;
    for (const auto& s : r.segments) {
      if (s.kind == SegmentKind::CatchAll) {
        catch_all = true;
        break;
      }
      node = t.child(node, s);
    }
    auto& list = r.kind == RouteMatch::Kind::Prefix ? t.nodes[node].prefix
                 : catch_all                        ? t.nodes[node].catch_all
                                                    : t.nodes[node].exact;
    list.push_back(id);
  }
  t.build_allow_table();
}

Router::~Router() = default;

MatchResult Router::match(const core::RequestHead& request) const {
  return Matcher(*table_, request).run();
}

}  // namespace portico::routing
