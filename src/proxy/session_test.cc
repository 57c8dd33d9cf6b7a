// The session without sockets: a fake codec (RequestStream, RequestBody, ResponseWriter) drives
// it through each phase, with filters and actions made for the test put into a compiled route.
#include "proxy/session.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>

#include "config/config_loader.h"
#include "net/buffer_pool.h"
#include "net/deadline.h"
#include "upstream/prng.h"
#include "upstream/target_pools.h"

namespace portico::proxy {
namespace {

using Task = boost::asio::awaitable<bool>;

// --- the fake codec ---------------------------------------------------------------------------

// Records what reaches the codec.
class RecordingWriter final : public ResponseWriter {
 public:
  void start(core::ResponseHead& head) override {
    ++starts;
    status = head.status;
    fields.clear();
    for (const auto& f : head.fields) fields.emplace_back(f.name, f.value);
    length = head.content_length;
  }
  Task write(const BodyPieces& pieces, bool last) override {
    for (auto piece : pieces.pieces) body += piece;
    ++writes;
    ended = last;
    co_return !client_gone;
  }
  Task switch_protocols(core::ResponseHead&, net::ByteStream&, std::chrono::milliseconds) override {
    co_return false;
  }
  std::string field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (core::iequals(n, name)) return v;
    return {};
  }

  int starts = 0, writes = 0, status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::uint64_t> length;
  std::string body;
  bool ended = false;
  bool client_gone = false;
};

class FakeStream final : public RequestStream {
 public:
  FakeStream(std::string_view method, std::string_view target) {
    head_.method = method;
    head_.target = target;
    head_.raw_path = target.substr(0, target.find('?'));
    head_.fields.push_back({"Host", "gateway.test"});
    facts_.peer_ip = "192.0.2.7";
  }
  core::RequestHead& head() override { return head_; }
  RequestBody& body() override { return body_; }
  ResponseWriter& writer() override { return writer_; }
  const ConnectionFacts& connection() const override { return facts_; }
  void close_after() override { closing = true; }
  std::uint64_t bytes_in() const override { return 0; }
  std::uint64_t bytes_out() const override { return writer_.body.size(); }

  RecordingWriter writer_;
  bool closing = false;

 private:
  core::RequestHead head_;
  EmptyBody body_;
  ConnectionFacts facts_;
};

// --- the fake worker ------------------------------------------------------------------------

class NoPools final : public upstream::TargetPools {
 public:
  upstream::ConnectionPool& pool(upstream::UpstreamSlot, std::size_t) override { return pool_; }
  std::size_t pick_target(upstream::UpstreamSlot, std::uint64_t, std::size_t) override { return 0; }

 private:
  upstream::ConnectionPool pool_{"none", 1};
};

class Harness final : public SessionEnvironment {
 public:
  explicit Harness(std::string_view yaml) {
    auto loaded = config::load_config_string(yaml, "test.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].message);
    CompileServices compile{names_, series_, nullptr, nullptr};
    runtime_ = compile_runtime(std::make_shared<config::Config>(*loaded.config), 1, compile);
  }
  const std::shared_ptr<const Runtime>& runtime() const override { return runtime_; }
  WorkerServices& services() override { return services_; }
  void new_request_id(std::string& out) override { out = "req-" + std::to_string(++ids_); }
  observability::AccessLogBuffer* access_log() override { return nullptr; }

  // Tests change the compiled route the way a filter or action kind would be added.
  CompiledRoute& route(std::size_t i) { return const_cast<Runtime&>(*runtime_).routes[i]; }

  // Serves one request to its end; what serve returned.
  bool serve(Session& session, FakeStream& stream) {
    bool result = false;
    boost::asio::co_spawn(
        io_, [&]() -> Task { co_return result = co_await session.serve(stream); },
        boost::asio::detached);
    io_.restart();
    io_.run();
    return result;
  }

 private:
  observability::NameRegistry names_;
  observability::SeriesRegistry series_;
  std::shared_ptr<const Runtime> runtime_;
  boost::asio::io_context io_;
  observability::MetricsShard metrics_;
  upstream::Prng prng_{7};
  net::DeadlineList deadlines_;
  net::BufferPool buffers_{4096};
  NoPools pools_;
  WorkerServices services_{io_, metrics_, prng_, deadlines_, buffers_, pools_};
  int ids_ = 0;
};

constexpr std::string_view config_yaml = R"(
upstreams:
  up: {targets: [http://127.0.0.1:9]}
routes:
  - name: hello
    match: {path: /hello}
    respond: {status: 200, body: "hello, world"}
    response_headers: {X-Route: hello}
  - name: api
    match: {prefix: /api}
    upstream: up
)";

// --- filters and actions made for the tests ------------------------------------------------

// Answers every request itself with a JSON body.
struct AnsweringFilter final : Filter {
  std::string_view name() const override { return "answering"; }
  Next on_request(RequestContext& ctx) const override {
    ctx.reply.status = 418;
    ctx.reply.error_tag = "teapot";
    ctx.reply.add_header("X-Why", "a test");
    ctx.reply.set_body(R"({"tea":true})", "application/json");
    return Next::Respond;
  }
};

// Upper-cases the body and, since that could change its length, lets the codec frame it.
// Counts the pieces it saw in its state slot.
struct ShoutingFilter final : Filter {
  struct State {
    std::string out;
    int pieces = 0;
  };
  std::string_view name() const override { return "shouting"; }
  Next on_response(RequestContext&, core::ResponseHead& head) const override {
    head.content_length.reset();
    head.add("X-Shouted", "yes");
    return Next::Continue;
  }
  void on_body(RequestContext& ctx, BodyChunk& chunk) const override {
    auto& state = ctx.state.get<State>(state_slot());
    state.out.clear();
    for (auto piece : chunk.pieces.pieces)
      for (char c : piece) state.out += static_cast<char>(std::toupper(c));
    state.pieces += static_cast<int>(chunk.pieces.pieces.size());
    chunk.pieces.clear();
    chunk.pieces.add(state.out);
  }
  void on_complete(RequestContext& ctx) const override {
    auto* state = ctx.state.find<State>(state_slot());
    completed_with_pieces.push_back(state ? state->pieces : -1);
  }
  mutable std::vector<int> completed_with_pieces;
};

// Replaces whatever the action answered with a 503 of its own.
struct ReplacingFilter final : Filter {
  std::string_view name() const override { return "replacing"; }
  Next on_response(RequestContext& ctx, core::ResponseHead&) const override {
    ctx.reply.clear();
    ctx.reply.status = 503;
    ctx.reply.error_tag = "replaced";
    ctx.reply.set_body("maintenance", "text/plain");
    return Next::Respond;
  }
};

struct CountingFilter final : Filter {
  std::string_view name() const override { return "counting"; }
  void on_complete(RequestContext& ctx) const override { statuses.push_back(ctx.status); }
  mutable std::vector<int> statuses;
};

// Streams ten pieces, as long as the writer wants them.
struct StreamingAction final : Action {
  std::string_view name() const override { return "streaming"; }
  boost::asio::awaitable<Outcome> run(RequestContext& ctx, ResponseWriter& writer) const override {
    ctx.response.status = 200;
    writer.start(ctx.response);
    for (int i = 0; i < 10 && writer.wants_body(); ++i) {
      ++pieces_sent;
      BodyPieces piece;
      piece.add("piece;");
      if (!co_await writer.write(piece, i == 9)) co_return Outcome::Broken;
    }
    co_return Outcome::Answered;
  }
  mutable int pieces_sent = 0;
};

// An action that fails in the way it is told.
struct FailingAction final : Action {
  explicit FailingAction(Outcome outcome) : outcome_(outcome) {}
  std::string_view name() const override { return "failing"; }
  boost::asio::awaitable<Outcome> run(RequestContext& ctx, ResponseWriter&) const override {
    if (outcome_ == Outcome::Reply) {
      ctx.reply.clear();
      ctx.reply.status = 502;
      ctx.reply.error_tag = "upstream_reset";
    } else {
      ctx.status = 400;
      ctx.error_tag = "client_gone";
    }
    co_return outcome_;
  }
  Outcome outcome_;
};

// --- the tests ------------------------------------------------------------------------------

TEST(Session, NoRouteIsA404WithTheJsonErrorBody) {
  Harness harness(config_yaml);
  Session session(harness);
  FakeStream stream("GET", "/nowhere");
  EXPECT_TRUE(harness.serve(session, stream));
  const auto& w = stream.writer_;
  EXPECT_EQ(w.status, 404);
  EXPECT_EQ(w.field("Content-Type"), "application/json");
  EXPECT_EQ(w.field("X-Correlation-ID"), "req-1");
  EXPECT_NE(w.body.find(R"("request_id":"req-1")"), std::string::npos) << w.body;
  EXPECT_EQ(w.length, w.body.size());
  EXPECT_TRUE(w.ended);
}

TEST(Session, ARespondRouteRunsItsActionThroughTheWriter) {
  Harness harness(config_yaml);
  Session session(harness);
  FakeStream stream("GET", "/hello");
  EXPECT_TRUE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.status, 200);
  EXPECT_EQ(stream.writer_.body, "hello, world");
  EXPECT_EQ(stream.writer_.field("X-Route"), "hello");
}

TEST(Session, AFilterAnswersWithABodyAndContentTypeOfItsOwn) {
  Harness harness(config_yaml);
  auto counting = std::make_shared<CountingFilter>();
  harness.route(0).filters = {std::make_shared<AnsweringFilter>(), counting};
  Session session(harness);
  FakeStream stream("GET", "/hello");
  EXPECT_TRUE(harness.serve(session, stream));
  const auto& w = stream.writer_;
  EXPECT_EQ(w.status, 418);
  EXPECT_EQ(w.body, R"({"tea":true})");
  EXPECT_EQ(w.field("Content-Type"), "application/json");
  EXPECT_EQ(w.field("X-Why"), "a test");
  EXPECT_EQ(w.length, 12u);
  // on_complete runs for every filter of the route, including those after the one that answered.
  EXPECT_EQ(counting->statuses, std::vector<int>{418});
}

TEST(Session, OnBodyRewritesTheBodyAndTheCodecFramesIt) {
  Harness harness(config_yaml);
  auto shouting = std::make_shared<ShoutingFilter>();
  shouting->set_state_slot(0);
  harness.route(0).filters = {shouting};
  Session session(harness);
  FakeStream first("GET", "/hello");
  EXPECT_TRUE(harness.serve(session, first));
  EXPECT_EQ(first.writer_.body, "HELLO, WORLD");
  EXPECT_EQ(first.writer_.length, std::nullopt);  // no length: the codec chunks it
  EXPECT_EQ(first.writer_.field("X-Shouted"), "yes");
  // The state slot is the request's: the second request starts from nothing.
  FakeStream second("GET", "/hello");
  EXPECT_TRUE(harness.serve(session, second));
  EXPECT_EQ(shouting->completed_with_pieces, (std::vector<int>{1, 1}));
}

TEST(Session, OnResponseReplacesTheActionsAnswer) {
  Harness harness(config_yaml);
  harness.route(0).filters = {std::make_shared<ReplacingFilter>()};
  Session session(harness);
  FakeStream stream("GET", "/hello");
  EXPECT_TRUE(harness.serve(session, stream));
  const auto& w = stream.writer_;
  EXPECT_EQ(w.starts, 1);
  EXPECT_EQ(w.status, 503);
  EXPECT_EQ(w.body, "maintenance");  // not "hello, world"
  EXPECT_EQ(w.field("Content-Type"), "text/plain");
  EXPECT_TRUE(w.ended);
}

TEST(Session, AReplacedAnswerStopsTheActionsBody) {
  Harness harness(config_yaml);
  auto streaming = std::make_shared<StreamingAction>();
  harness.route(1).filters = {std::make_shared<ReplacingFilter>()};
  harness.route(1).action = streaming;
  Session session(harness);
  FakeStream stream("GET", "/api/x");
  EXPECT_TRUE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.body, "maintenance");
  EXPECT_EQ(streaming->pieces_sent, 1);  // told after the first piece that no more is wanted
}

TEST(Session, AnActionsReplyIsSentAsTheGatewaysError) {
  Harness harness(config_yaml);
  auto counting = std::make_shared<CountingFilter>();
  harness.route(1).filters = {counting};
  harness.route(1).action = std::make_shared<FailingAction>(Outcome::Reply);
  Session session(harness);
  FakeStream stream("GET", "/api/x");
  EXPECT_TRUE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.status, 502);
  EXPECT_NE(stream.writer_.body.find(R"("error")"), std::string::npos);
  EXPECT_EQ(counting->statuses, std::vector<int>{502});
}

TEST(Session, ABrokenActionEndsTheConnection) {
  Harness harness(config_yaml);
  auto counting = std::make_shared<CountingFilter>();
  harness.route(1).filters = {counting};
  harness.route(1).action = std::make_shared<FailingAction>(Outcome::Broken);
  Session session(harness);
  FakeStream stream("GET", "/api/x");
  EXPECT_FALSE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.starts, 0);
  EXPECT_EQ(counting->statuses, std::vector<int>{400});
  EXPECT_EQ(session.context().error_tag, "client_gone");
}

TEST(Session, ABadPathIsRefusedBeforeRouting) {
  Harness harness(config_yaml);
  Session session(harness);
  FakeStream stream("GET", "/../etc/passwd");
  EXPECT_TRUE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.status, 400);
  EXPECT_NE(stream.writer_.body.find("climbs above the root"), std::string::npos);
  EXPECT_TRUE(stream.closing);
}

TEST(Session, AClientRequestIdIsKeptAndForwardingUsesThePeer) {
  Harness harness(config_yaml);
  Session session(harness);
  FakeStream stream("GET", "/hello");
  stream.head().fields.push_back({"X-Correlation-ID", "abc-123"});
  stream.head().fields.push_back({"X-Forwarded-For", "6.6.6.6"});
  EXPECT_TRUE(harness.serve(session, stream));
  EXPECT_EQ(stream.writer_.field("X-Correlation-ID"), "abc-123");
  EXPECT_EQ(session.context().client_ip, "192.0.2.7");  // no trusted proxies: the peer
}

}  // namespace
}  // namespace portico::proxy
