// The respond action through a recording ResponseWriter: what it hands the codec.
#include "actions/respond/respond_action.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace portico::actions::respond {
namespace {

class RecordingWriter final : public proxy::ResponseWriter {
 public:
  void start(core::ResponseHead& head) override {
    status = head.status;
    for (const auto& f : head.fields) fields.emplace_back(f.name, f.value);
    length = head.content_length;
  }
  boost::asio::awaitable<bool> write(const proxy::BodyPieces& pieces, bool last) override {
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

bool run(const proxy::Action& action, RecordingWriter& writer) {
  boost::asio::io_context io;
  proxy::RequestContext ctx;
  bool answered = false;
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
  EXPECT_TRUE(run(action, writer));
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
  EXPECT_TRUE(run(action, writer));
  EXPECT_EQ(writer.status, 200);
  EXPECT_EQ(writer.field("Content-Type"), "text/plain; charset=utf-8");
}

}  // namespace
}  // namespace portico::actions::respond
