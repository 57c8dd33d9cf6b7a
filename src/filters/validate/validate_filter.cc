#include "filters/validate/validate_filter.h"

#include <boost/json/serialize.hpp>

#include "core/ascii.h"
#include "proxy/request_body.h"

namespace portico::filters::validate {

namespace json = boost::json;
using proxy::BodyStatus;
using proxy::Next;

namespace {

// The body as the filter read it, offered to the action in place of the codec's: complete,
// with its length known (so it goes upstream with a Content-Length even when the client sent
// it chunked, and can be sent again on a retry).
class HeldBody final : public proxy::RequestBody {
 public:
  void hold(std::string_view bytes) {
    pieces_.clear();
    pieces_.add(bytes);
  }
  BodyStatus take_buffered() override { return BodyStatus::Ok; }
  boost::asio::awaitable<BodyStatus> read(bool) override { co_return BodyStatus::Ok; }
  const core::BodyPieces& pieces() const override { return pieces_; }
  bool complete() const override { return true; }
  bool has_room() const override { return false; }
  bool chunked() const override { return false; }
  std::optional<std::uint64_t> length() const override { return pieces_.bytes; }
  bool expects_continue() const override { return false; }
  boost::asio::awaitable<bool> send_continue() override { co_return true; }

 private:
  core::BodyPieces pieces_;
};

struct State {
  std::string bytes;
  HeldBody held;
};

Next refuse(proxy::RequestContext& ctx, int status, std::string_view message,
            std::string_view tag) {
  ctx.reply.set_error(status, message, tag);
  return Next::Respond;
}

Next body_refused(proxy::RequestContext& ctx, BodyStatus status) {
  switch (status) {
    case BodyStatus::TooLarge:
      return refuse(ctx, 413, {}, "body_too_large");
    case BodyStatus::Malformed:
      return refuse(ctx, 400, {}, "malformed_body");
    default:
      return refuse(ctx, 400, "the request body did not arrive whole", "client_body_incomplete");
  }
}

// 400 with the usual error members and `errors`: [{pointer, message}].
Next invalid(proxy::RequestContext& ctx, std::string_view message,
             const std::vector<JsonSchema::Violation>& violations) {
  json::array errors;
  for (const auto& v : violations)
    errors.push_back(json::object{{"pointer", v.pointer}, {"message", v.message}});
  json::object body{{"error", message},
                    {"status", 400},
                    {"request_id", ctx.request_id},
                    {"errors", std::move(errors)}};
  ctx.reply.set_error(400, message, "invalid_body");
  ctx.reply.set_body(json::serialize(body), "application/json");
  return Next::Respond;
}

}  // namespace

bool is_json_media_type(std::string_view content_type) {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view application = "application/";
  if (type.size() <= application.size() ||
      !core::iequals(type.substr(0, application.size()), application))
    return false;
  auto subtype = type.substr(application.size());
  return core::iequals(subtype, "json") ||
         (subtype.size() > 5 && core::iequals(subtype.substr(subtype.size() - 5), "+json"));
}

ValidateFilter::ValidateFilter(const ValidateConfig& config)
    : schema_(config.schema), max_body_bytes_(config.max_body_bytes) {}

Next ValidateFilter::on_request(proxy::RequestContext& ctx) const {
  const auto& body = *ctx.body;
  // A request without a body (a GET; no Content-Length, or 0, and not chunked) is not
  // validated: there is no document to check, and the schema describes bodies.
  if (!body.chunked() && body.length().value_or(0) == 0) return Next::Continue;
  if (schema_) {
    auto encoding = ctx.head->find("content-encoding");
    if (!encoding.empty() && !core::iequals(encoding, "identity"))
      return refuse(ctx, 415, "an encoded request body cannot be validated; send it unencoded",
                    "unsupported_media_type");
    if (!is_json_media_type(ctx.head->find("content-type")))
      return refuse(ctx, 415, "expected a JSON body (Content-Type: application/json)",
                    "unsupported_media_type");
  }
  if (auto length = body.length(); length && *length > max_body_bytes_)
    return refuse(ctx, 413, {}, "body_too_large");
  return Next::Wait;
}

boost::asio::awaitable<Next> ValidateFilter::on_request_async(proxy::RequestContext& ctx) const {
  auto& state = ctx.state.get<State>(state_slot());
  auto& body = *ctx.body;
  auto& bytes = state.bytes;
  auto keep = [&] {
    for (auto piece : body.pieces().pieces) bytes.append(piece);
  };
  bytes.reserve(body.length().value_or(0));
  auto status = body.take_buffered();
  if (status == BodyStatus::Ok) keep();
  // The client waits to be invited (Expect: 100-continue); the head passed every check.
  if (status == BodyStatus::Ok && !body.complete() && body.expects_continue() &&
      !co_await body.send_continue())
    status = BodyStatus::ClientGone;
  while (status == BodyStatus::Ok && !body.complete() && bytes.size() <= max_body_bytes_) {
    status = co_await body.read(false);
    if (status == BodyStatus::Ok) keep();
  }
  if (status != BodyStatus::Ok) co_return body_refused(ctx, status);
  if (bytes.size() > max_body_bytes_) co_return refuse(ctx, 413, {}, "body_too_large");
  state.held.hold(bytes);
  ctx.body = &state.held;
  // A chunked body that turned out empty is no body either.
  if (!schema_ || bytes.empty()) co_return Next::Continue;

  std::vector<JsonSchema::Violation> violations;
  std::string problem;
  auto document = parse_json(bytes, problem);
  if (!document) {
    violations.push_back({"", std::move(problem)});
    co_return invalid(ctx, "the request body is not valid JSON", violations);
  }
  if (schema_->validate(*document, violations, kMaxReportedErrors)) co_return Next::Continue;
  co_return invalid(ctx, "the request body does not match the route's JSON Schema", violations);
}

}  // namespace portico::filters::validate
