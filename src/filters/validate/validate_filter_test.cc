// `validate:` on a route: its parse rules through the config loader (errors at the line of
// json_schema), and the filter over request bodies delivered piece by piece.
#include "filters/validate/validate_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config/config_loader.h"
#include "proxy/request_body.h"

namespace portico::filters::validate {
namespace {

using proxy::BodyStatus;
using proxy::Next;
using ::testing::HasSubstr;
namespace json = boost::json;

// A body that arrives in `parts`: the first with the head, one more each read.
class PiecewiseBody final : public proxy::RequestBody {
 public:
  std::vector<std::string> parts;
  bool is_chunked = false;
  std::optional<std::uint64_t> declared;
  bool expect_continue = false;
  bool continued = false;
  BodyStatus fail_with = BodyStatus::Ok;  // what a read returns once the parts run out

  BodyStatus take_buffered() override {
    pieces_.clear();
    if (next_ == 0 && !parts.empty() && !expect_continue) pieces_.add(parts[next_++]);
    return BodyStatus::Ok;
  }
  boost::asio::awaitable<BodyStatus> read(bool keep) override {
    if (!keep) pieces_.clear();
    if (next_ >= parts.size()) co_return fail_with;
    pieces_.add(parts[next_++]);
    co_return BodyStatus::Ok;
  }
  const core::BodyPieces& pieces() const override { return pieces_; }
  bool complete() const override { return next_ == parts.size() && fail_with == BodyStatus::Ok; }
  bool has_room() const override { return true; }
  bool chunked() const override { return is_chunked; }
  std::optional<std::uint64_t> length() const override { return declared; }
  bool expects_continue() const override { return expect_continue && !continued; }
  boost::asio::awaitable<bool> send_continue() override {
    continued = true;
    co_return true;
  }
  std::size_t reads() const { return next_; }

 private:
  std::size_t next_ = 0;
  core::BodyPieces pieces_;
};

struct TestRequest {
  std::string content_type;  // the head's fields are views
  core::RequestHead head;
  PiecewiseBody body;
  proxy::RequestContext ctx;

  TestRequest(std::string type, std::vector<std::string> parts, bool chunked = false)
      : content_type(std::move(type)) {
    head.method = "POST";
    head.path = "/orders";
    if (!content_type.empty()) head.fields.push_back({"Content-Type", content_type});
    std::size_t total = 0;
    for (const auto& p : parts) total += p.size();
    body.parts = std::move(parts);
    body.is_chunked = chunked;
    if (!chunked) body.declared = total;
    ctx.head = &head;
    ctx.body = &body;
    ctx.request_id = "req-1";
  }

  // on_request, then on_request_async when it asks to wait.
  Next run(const ValidateFilter& filter) {
    auto next = filter.on_request(ctx);
    if (next != Next::Wait) return next;
    boost::asio::io_context io;
    std::optional<Next> out;
    boost::asio::co_spawn(io, filter.on_request_async(ctx), [&](std::exception_ptr e, Next n) {
      if (e) std::rethrow_exception(e);
      out = n;
    });
    io.run();
    return out.value();
  }

  std::string held_body() const {
    std::string out;
    for (auto piece : ctx.body->pieces().pieces) out.append(piece);
    return out;
  }
};

ValidateConfig config(std::string_view schema_text, std::uint64_t max_body_bytes = 1024) {
  ValidateConfig out;
  out.max_body_bytes = max_body_bytes;
  if (!schema_text.empty()) {
    std::string problem;
    out.schema = JsonSchema::compile(schema_text, problem);
    EXPECT_TRUE(out.schema) << problem;
    out.json_schema = "schema.json";
  }
  return out;
}

constexpr std::string_view kSchema = R"({
  "type": "object", "required": ["items"],
  "properties": {"items": {"type": "array", "items": {
    "type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}}}})";

TEST(ValidateFilter, AValidBodyPassesAndIsHeldWholeForTheUpstream) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("application/json", {R"({"items": [)", R"({"qty": 2}, )", R"({"qty": 3}]})"}, true);
  EXPECT_EQ(r.run(filter), Next::Continue);
  EXPECT_NE(r.ctx.body, &r.body);  // the held copy replaces the codec's
  EXPECT_TRUE(r.ctx.body->complete());
  EXPECT_FALSE(r.ctx.body->chunked());
  EXPECT_EQ(r.held_body(), R"({"items": [{"qty": 2}, {"qty": 3}]})");
  EXPECT_EQ(r.ctx.body->length(), r.held_body().size());
}

TEST(ValidateFilter, AnInvalidBodyGets400WithPointersAndTheErrorMembers) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("application/json; charset=utf-8", {R"({"items": [{"qty": 2}, {"qty": 0}]})"});
  EXPECT_EQ(r.run(filter), Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 400);
  EXPECT_EQ(r.ctx.reply.error_tag, "invalid_body");
  EXPECT_EQ(r.ctx.reply.content_type, "application/json");
  auto body = json::parse(r.ctx.reply.body).as_object();
  EXPECT_EQ(body.at("status").as_int64(), 400);
  EXPECT_EQ(body.at("request_id").as_string(), "req-1");
  EXPECT_FALSE(body.at("error").as_string().empty());
  const auto& errors = body.at("errors").as_array();
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].at("pointer").as_string(), "/items/1/qty");
  EXPECT_FALSE(errors[0].at("message").as_string().empty());
}

TEST(ValidateFilter, AtMostTenErrorsAreListed) {
  ValidateFilter filter(config(R"({"type": "array", "items": {"type": "string"}})"));
  TestRequest r("application/json", {"[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]"});
  EXPECT_EQ(r.run(filter), Next::Respond);
  auto body = json::parse(r.ctx.reply.body).as_object();
  EXPECT_EQ(body.at("errors").as_array().size(), kMaxReportedErrors);
}

TEST(ValidateFilter, MalformedJsonGets400WithTheWholeBodyPointer) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("application/json", {R"({"items": [)"});
  EXPECT_EQ(r.run(filter), Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 400);
  auto errors = json::parse(r.ctx.reply.body).at("errors").as_array();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at("pointer").as_string(), "");
  EXPECT_THAT(std::string(errors[0].at("message").as_string()), HasSubstr("malformed JSON"));
}

TEST(ValidateFilter, AnotherContentTypeGets415WithoutReadingTheBody) {
  ValidateFilter filter(config(kSchema));
  for (std::string type : {"text/plain", "", "application/jsonx", "multipart/form-data"}) {
    TestRequest r(type, {"{}"});
    EXPECT_EQ(r.run(filter), Next::Respond) << type;
    EXPECT_EQ(r.ctx.reply.status, 415) << type;
    EXPECT_EQ(r.body.reads(), 0u);
  }
  TestRequest encoded("application/json", {"{}"});
  encoded.head.fields.push_back({"Content-Encoding", "gzip"});
  EXPECT_EQ(encoded.run(filter), Next::Respond);
  EXPECT_EQ(encoded.ctx.reply.status, 415);
}

TEST(ValidateFilter, ARequestWithoutABodyIsNotValidated) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("", {});
  r.head.method = "GET";
  r.body.declared.reset();
  EXPECT_EQ(r.run(filter), Next::Continue);
  EXPECT_EQ(r.ctx.body, &r.body);
}

TEST(ValidateFilter, ADeclaredLengthOverTheBoundGets413BeforeReading) {
  ValidateFilter filter(config(kSchema, 16));
  TestRequest r("application/json", {R"({"items": [{"qty": 1}]})"});
  EXPECT_EQ(r.run(filter), Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 413);
  EXPECT_EQ(r.body.reads(), 0u);
}

TEST(ValidateFilter, AChunkedBodyOverTheBoundGets413WhileReading) {
  ValidateFilter filter(config(kSchema, 16));
  TestRequest r("application/json", {"[1,2,3,4,5,", "6,7,8,9,", "10,11,12,13,", "14]"}, true);
  EXPECT_EQ(r.run(filter), Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 413);
  EXPECT_LT(r.body.reads(), r.body.parts.size());  // stopped reading once over
}

TEST(ValidateFilter, WithoutASchemaBodiesAreOnlyBounded) {
  ValidateFilter filter(config("", 8));
  TestRequest small("text/plain", {"hello"});
  EXPECT_EQ(small.run(filter), Next::Continue);
  EXPECT_EQ(small.held_body(), "hello");
  TestRequest large("text/plain", {"hello ", "world"}, true);
  EXPECT_EQ(large.run(filter), Next::Respond);
  EXPECT_EQ(large.ctx.reply.status, 413);
}

TEST(ValidateFilter, AClientWaitingFor100ContinueIsInvited) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("application/json", {R"({"items": []})"});
  r.body.expect_continue = true;
  EXPECT_EQ(r.run(filter), Next::Continue);
  EXPECT_TRUE(r.body.continued);
  EXPECT_FALSE(r.ctx.body->expects_continue());
}

TEST(ValidateFilter, ABodyCutShortIsRefused) {
  ValidateFilter filter(config(kSchema));
  TestRequest r("application/json", {R"({"items": )"}, true);
  r.body.fail_with = BodyStatus::Malformed;
  EXPECT_EQ(r.run(filter), Next::Respond);
  EXPECT_EQ(r.ctx.reply.status, 400);
  EXPECT_EQ(r.ctx.reply.error_tag, "malformed_body");
}

TEST(ValidateFilter, JsonMediaTypes) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("Application/JSON ; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/merge-patch+json"));
  EXPECT_FALSE(is_json_media_type("application/+json"));
  EXPECT_FALSE(is_json_media_type("text/json"));
  EXPECT_FALSE(is_json_media_type("application/jsonp"));
  EXPECT_FALSE(is_json_media_type(""));
}

// ---- Config -------------------------------------------------------------------------------

struct ConfigFiles : ::testing::Test {
  std::filesystem::path dir;
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("portico-validate-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir / "schemas");
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write(const std::string& name, std::string_view text) { std::ofstream(dir / name) << text; }
  config::LoadResult load(std::string_view validate_yaml) {
    write("portico.yaml", std::string(R"(server:
  limits: {max_body_bytes: 1MiB}
upstreams:
  orders: {targets: [http://127.0.0.1:8081]}
routes:
  - name: orders
    match: {prefix: /orders}
    upstream: orders
)") + std::string(validate_yaml));
    return config::load_config_file((dir / "portico.yaml").string(),
                                    [](std::string_view) { return std::optional<std::string>(); });
  }
  static std::string describe(const config::LoadResult& result) {
    std::string out;
    for (const auto& error : result.errors) out += error.to_string() + "\n";
    return out;
  }
};

TEST_F(ConfigFiles, TheSchemaIsReadBesideTheConfigFileAndCompiled) {
  write("schemas/order.json", kSchema);
  auto result = load("    validate: {json_schema: schemas/order.json, max_body_bytes: 64KiB}\n");
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& v = *result.config->routes.at(0).validate;
  EXPECT_EQ(v.json_schema, "schemas/order.json");
  EXPECT_EQ(v.max_body_bytes, 64u * 1024);
  EXPECT_TRUE(v.schema);
}

TEST_F(ConfigFiles, WithoutMaxBodyBytesTheServerLimitApplies) {
  write("schemas/order.json", kSchema);
  auto result = load("    validate: {json_schema: schemas/order.json}\n");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.config->routes.at(0).validate->max_body_bytes, 1024u * 1024);
}

TEST_F(ConfigFiles, AMissingFileIsAnErrorAtTheLineOfJsonSchema) {
  auto result =
      load("    validate:\n      max_body_bytes: 1KiB\n      json_schema: schemas/none.json\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].mark.line, 11);
  EXPECT_EQ(result.errors[0].key_path, "routes[0].validate.json_schema");
  EXPECT_THAT(result.errors[0].message, HasSubstr("none.json"));
}

TEST_F(ConfigFiles, InvalidJsonIsAnErrorNamingWhereInTheSchemaFile) {
  write("schemas/order.json", "{\n  \"type\": \"object\",\n}\n");
  auto result = load("    validate: {json_schema: schemas/order.json}\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].mark.line, 9);
  EXPECT_THAT(result.errors[0].message, HasSubstr("order.json"));
  EXPECT_THAT(result.errors[0].message, HasSubstr("line 3"));
}

TEST_F(ConfigFiles, AnInvalidSchemaIsAnError) {
  write("schemas/order.json", R"({"type": "objekt"})");
  auto result = load("    validate: {json_schema: schemas/order.json}\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_THAT(result.errors[0].message, HasSubstr("JSON Schema"));
}

TEST_F(ConfigFiles, ARouteBoundAboveTheServerLimitIsAnError) {
  auto result = load("    validate: {max_body_bytes: 2MiB}\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].key_path, "routes[0].validate.max_body_bytes");
  EXPECT_THAT(result.errors[0].message, HasSubstr("server.limits.max_body_bytes"));
}

TEST_F(ConfigFiles, AnEmptyValidateIsAnError) {
  auto result = load("    validate: {}\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_THAT(result.errors[0].message, HasSubstr("json_schema"));
}

}  // namespace
}  // namespace portico::filters::validate
