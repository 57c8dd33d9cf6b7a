#include "actions/aggregate/call_path.h"

#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace portico::actions::aggregate {

namespace urls = boost::urls;

namespace {

// A query value may hold what a path segment may, except the bytes that delimit query items
// and their values (& = + #).
constexpr auto kQueryValueChars = urls::unreserved_chars + "!$'()*,;:@/?";

void append_encoded(std::string& out, std::string_view value, bool in_query) {
  if (in_query)
    out += urls::encode(value, kQueryValueChars);
  else
    out += urls::encode(value, urls::pchars);
}

// Whether `value` may stand in for a placeholder: never empty (a path segment or a query value
// the template meant to fill would vanish), nor a dot segment in a path, which an upstream
// would resolve to another resource (/users/../admin).
bool fills(std::string_view value, bool in_query) {
  if (value.empty()) return false;
  return in_query || (value != "." && value != "..");
}

// The client's query items, byte for byte, but for those naming a parameter the template sets
// itself: a client may add to a call's query, not change what the route fixed (user_id=...).
std::string client_items(std::string_view client, std::string_view template_query) {
  auto name_of = [](std::string_view item) { return item.substr(0, item.find('=')); };
  auto set_by_template = [&](std::string_view name) {
    std::string_view rest = template_query;
    while (!rest.empty()) {
      auto amp = rest.find('&');
      if (auto item = rest.substr(0, amp); !item.empty() && name_of(item) == name) return true;
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return false;
  };
  std::string kept;
  while (!client.empty()) {
    auto amp = client.find('&');
    auto item = client.substr(0, amp);
    if (!item.empty() && !set_by_template(name_of(item))) {
      if (!kept.empty()) kept += '&';
      kept += item;
    }
    if (amp == std::string_view::npos) break;
    client.remove_prefix(amp + 1);
  }
  return kept;
}

// Drops the empty items a missing {query} leaves ("a=1&&b=2", "a=1&").
void drop_empty_items(std::string& query) {
  std::string tidy;
  std::string_view rest = query;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto item = rest.substr(0, amp);
    if (!item.empty()) {
      if (!tidy.empty()) tidy += '&';
      tidy += item;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  query = std::move(tidy);
}

std::vector<std::string> split_field(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    auto dot = text.find('.');
    out.emplace_back(text.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    text.remove_prefix(dot + 1);
  }
}

}  // namespace

CallPath::CallPath(std::string_view pattern,
                   const std::function<std::optional<std::size_t>(std::string_view)>& call_index) {
  bool in_query = false;
  auto add_text = [&](std::string_view text) {
    while (!text.empty()) {
      auto mark = in_query ? std::string_view::npos : text.find('?');
      auto& part = parts_.emplace_back();
      part.kind = Part::Kind::Text;
      part.text = text.substr(0, mark);
      part.in_query = in_query;
      if (mark == std::string_view::npos) return;
      in_query = true;
      text.remove_prefix(mark + 1);
    }
  };
  std::size_t at = 0;
  while (at < pattern.size()) {
    auto open = pattern.find('{', at);
    add_text(pattern.substr(at, open - at));
    if (open == std::string_view::npos) break;
    auto close = pattern.find('}', open);
    if (close == std::string_view::npos) throw std::runtime_error("unclosed { in call path");
    std::string_view name = pattern.substr(open + 1, close - open - 1);
    if (name.size() > 3 && name.ends_with("...")) name.remove_suffix(3);
    Part part;
    part.kind = Part::Kind::Param;
    part.text = name;
    part.in_query = in_query;
    auto dot = name.find('.');
    if (name == "query") {
      part.kind = Part::Kind::Query;
    } else if (name == "consumer") {
      part.kind = Part::Kind::Consumer;
    } else if (name == "client_cert.subject") {
      part.kind = Part::Kind::CertSubject;
    } else if (name.starts_with("jwt.")) {
      part.kind = Part::Kind::Claim;
      part.text = std::string(name.substr(4));
    } else if (dot != std::string_view::npos) {
      auto index = call_index(name.substr(0, dot));
      if (!index) throw std::runtime_error("call path names an unknown call: " + part.text);
      part.kind = Part::Kind::CallField;
      part.call = *index;
      part.field = split_field(name.substr(dot + 1));
    }
    parts_.push_back(std::move(part));
    at = close + 1;
  }
}

// The identity's value a placeholder stands for; nullopt when it has none.
std::optional<std::string> CallPath::identity_text(const portico::proxy::RequestContext& ctx,
                                                   const Part& part) {
  switch (part.kind) {
    case Part::Kind::Consumer:
      return std::string(ctx.identity.consumer);
    case Part::Kind::CertSubject:
      return std::string(ctx.client_cert_subject);
    case Part::Kind::Claim:
      if (const auto* claims = ctx.identity.claims)
        if (const auto* claim = claims->if_contains(part.text)) return scalar_text(*claim);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

bool CallPath::fill(const portico::proxy::RequestContext& ctx, Answers answers, std::string& path,
                    std::string& query, std::string& problem) const {
  path.clear();
  query.clear();
  bool has_query_part = false;
  std::optional<std::size_t> client_query_at;
  for (const auto& part : parts_) {
    auto& out = part.in_query ? query : path;
    has_query_part = has_query_part || part.in_query;
    switch (part.kind) {
      case Part::Kind::Text:
        out += part.text;
        break;
      case Part::Kind::Param: {
        // A path param is path text already (escapes and all): as it is in a path; in a query,
        // decoded and encoded again for a query value.
        auto value = ctx.match->params.find(part.text);
        if (!part.in_query)
          out += value;
        else if (auto text = urls::make_pct_string_view(value))
          out += urls::encode(text->decode(), kQueryValueChars);
        else
          out += urls::encode(value, kQueryValueChars);
        break;
      }
      case Part::Kind::Consumer:
      case Part::Kind::CertSubject:
      case Part::Kind::Claim: {
        auto text = identity_text(ctx, part);
        if (!text || !fills(*text, part.in_query)) {
          problem.assign(1, '{');
          if (part.kind == Part::Kind::Claim) problem.append("jwt.");
          problem.append(part.text).append("} has no value for this request");
          return false;
        }
        append_encoded(out, *text, part.in_query);
        break;
      }
      case Part::Kind::Query:
        // The client's query string goes here once the template's own items are known.
        client_query_at = query.size();
        has_query_part = true;
        break;
      case Part::Kind::CallField: {
        const auto* answer = part.call < answers.size() ? answers[part.call] : nullptr;
        const auto* value = answer ? find_field(*answer, part.field) : nullptr;
        auto text = value ? scalar_text(*value) : std::nullopt;
        if (!text || !fills(*text, part.in_query)) {
          problem = "{" + part.text + "} is not in that call's answer";
          return false;
        }
        append_encoded(out, *text, part.in_query);
        break;
      }
    }
  }
  if (path.empty()) path.push_back('/');
  if (client_query_at && ctx.head->has_query)
    query.insert(*client_query_at, "&" + client_items(ctx.head->query, query) + "&");
  if (has_query_part) drop_empty_items(query);
  return true;
}

std::optional<std::string> scalar_text(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string:
      return std::string(value.get_string());
    case boost::json::kind::bool_:
      return std::string(value.get_bool() ? "true" : "false");
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return boost::json::serialize(value);
    case boost::json::kind::double_: {
      // 42.0 is "42", not serialize()'s "4.2E1"; others in their shortest exact form.
      double number = value.get_double();
      char digits[32];
      std::to_chars_result written{};
      if (std::trunc(number) == number && std::abs(number) < 9007199254740992.0)
        written = std::to_chars(digits, digits + sizeof digits, static_cast<std::int64_t>(number));
      else
        written = std::to_chars(digits, digits + sizeof digits, number);
      return std::string(digits, written.ptr);
    }
    default:
      return std::nullopt;
  }
}

const boost::json::value* find_field(const boost::json::value& root,
                                     std::span<const std::string> field) {
  const boost::json::value* at = &root;
  for (const auto& name : field) {
    if (const auto* object = at->if_object()) {
      at = object->if_contains(name);
    } else if (const auto* array = at->if_array()) {
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
      if (ec != std::errc() || end != name.data() + name.size() || index >= array->size())
        return nullptr;
      at = &(*array)[index];
    } else {
      return nullptr;
    }
    if (!at) return nullptr;
  }
  return at;
}

}  // namespace portico::actions::aggregate
