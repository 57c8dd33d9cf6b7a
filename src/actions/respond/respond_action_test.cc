// The respond action through a recording ResponseWriter: what it hands the codec.
#include "actions/respond/respond_action.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace portico::actions::respond {
namespace {

class RecordingWriter final : public portico::proxy::ResponseWriter {
 public:
  void start(core::ResponseHead& head) override {
    status = head.status;
    for (const auto& f : head.fields) fields.emplace_back(f.name, f.value);
    length = head.content_length;
  }
  boost::asio::awaitable<bool> switch_protocols(core::ResponseHead&, net::ByteStream&,
                                                std::chrono::milliseconds) override {
    co_return false;
  }
  boost::asio::awaitable<bool> write(const portico::proxy::BodyPieces& pieces, bool last) override {
    for (auto piece : pieces.pieces) body += piece;
    ended = last;
    co_return true;
  }
  std::string field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (core::iequals(n, name)) return v;
    return {};
  }

  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::uint64_t> length;
  std::string body;
  bool ended = false;
};

proxy::Outcome run(const portico::proxy::Action& action, RecordingWriter& writer,
                   portico::proxy::RequestContext& ctx) {
  boost::asio::io_context io;
  auto answered = portico::proxy::Outcome::Broken;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { answered = co_await action.run(ctx, writer); },
      boost::asio::detached);
  io.run();
  return answered;
}

TEST(RespondAction, AnswersWithTheConfiguredStatusHeadersAndBody) {
  config::RespondConfig respond{.status = 418, .body = "short and stout", .headers = {}};
  respond.headers = {{"Content-Type", "text/x-teapot"}, {"X-Kind", "pot"}};
  RespondAction action(respond, {{"X-Route", "tea"}});
  RecordingWriter writer;
  portico::proxy::RequestContext ctx;
  EXPECT_EQ(run(action, writer, ctx), portico::proxy::Outcome::Answered);
  EXPECT_EQ(writer.status, 418);
  EXPECT_EQ(writer.field("content-type"), "text/x-teapot");
  EXPECT_EQ(writer.field("x-kind"), "pot");
  EXPECT_EQ(writer.field("x-route"), "tea");
  EXPECT_EQ(writer.length, 15u);
  EXPECT_EQ(writer.body, "short and stout");
  EXPECT_TRUE(writer.ended);
}

TEST(RespondAction, DefaultsToPlainText) {
  config::RespondConfig respond;
  respond.body = "pong";
  RespondAction action(respond, {});
  RecordingWriter writer;
  portico::proxy::RequestContext ctx;
  EXPECT_EQ(run(action, writer, ctx), portico::proxy::Outcome::Answered);
  EXPECT_EQ(writer.status, 200);
  EXPECT_EQ(writer.field("Content-Type"), "text/plain; charset=utf-8");
}

TEST(NotBuiltAction, AsksForA501WithTheReason) {
  NotBuiltAction action("grpc transcoding is not built yet");
  RecordingWriter writer;
  portico::proxy::RequestContext ctx;
  EXPECT_EQ(run(action, writer, ctx), portico::proxy::Outcome::Reply);
  EXPECT_EQ(ctx.reply.status, 501);
  EXPECT_EQ(ctx.reply.message, "grpc transcoding is not built yet");
  EXPECT_EQ(ctx.reply.error_tag, "not_implemented");
  EXPECT_EQ(writer.status, 0);  // nothing written: the session sends the reply
}

}  // namespace
}  // namespace portico::actions::respond
