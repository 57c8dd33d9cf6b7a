// The client against real redis-server processes (testing/redis_processes.h).
#include "stores/redis/redis_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "stores/redis/testing/redis_processes.h"

namespace portico::stores::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RedisProcess;
using Type = RedisReply::Type;
using SteadyClock = std::chrono::steady_clock;

// Runs the io_context until `task` is done; the client's own work (its read loop, its timer)
// keeps the context busy, so run() alone would not return.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    out = std::move(value);
  });
  io.restart();
  auto until = SteadyClock::now() + 20s;
  while (!out && SteadyClock::now() < until) io.run_one_for(100ms);
  if (error) std::rethrow_exception(error);
  if (!out) throw std::runtime_error("the task did not finish");
  return std::move(*out);
}

// Lets the context run for a while (a server sleeping, a backoff passing).
void idle(asio::io_context& io, std::chrono::milliseconds period) {
  io.restart();
  io.run_for(period);
}

CallResult call(asio::io_context& io, RedisClient& client, std::vector<std::string> argv) {
  return run(io, client.call(std::move(argv)));
}

RedisOptions options(std::string url, std::chrono::milliseconds timeout = 1000ms) {
  RedisOptions out;
  out.url = std::move(url);
  out.timeout = timeout;
  return out;
}

RedisProcess::Options server_args(std::vector<std::string> args) {
  RedisProcess::Options out;
  out.args = std::move(args);
  return out;
}

RedisClient make_client(asio::io_context& io, std::string url,
                        std::chrono::milliseconds timeout = 1000ms) {
  return RedisClient{io, options(std::move(url), timeout)};
}

TEST(RedisClient, SendsCommandsAndReadsEveryKindOfReply) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url());

  auto set = call(io, client, {"SET", "greeting", "hello"});
  ASSERT_TRUE(set.ok()) << to_string(set.error);
  EXPECT_EQ(set.reply.type, Type::Status);
  EXPECT_EQ(set.reply.text, "OK");
  EXPECT_TRUE(client.connected());

  auto get = call(io, client, {"GET", "greeting"});
  EXPECT_EQ(get.reply.type, Type::String);
  EXPECT_EQ(get.reply.text, "hello");
  EXPECT_EQ(call(io, client, {"GET", "missing"}).reply.type, Type::Nil);
  auto incr = call(io, client, {"INCRBY", "counter", "41"});
  EXPECT_EQ(incr.reply.type, Type::Integer);
  EXPECT_EQ(incr.reply.integer, 41);
  auto binary = std::string("a\0\r\nb", 5);
  call(io, client, {"SET", "binary", binary});
  EXPECT_EQ(call(io, client, {"GET", "binary"}).reply.text, binary);

  auto mget = call(io, client, {"MGET", "greeting", "missing"});
  ASSERT_EQ(mget.reply.type, Type::Array);
  ASSERT_EQ(mget.reply.elements.size(), 2u);
  EXPECT_EQ(mget.reply.elements[0].text, "hello");
  EXPECT_EQ(mget.reply.elements[1].type, Type::Nil);

  // A server error is a reply, not a failed call.
  auto wrong = call(io, client, {"LPUSH", "greeting", "x"});
  EXPECT_TRUE(wrong.ok());
  EXPECT_TRUE(wrong.reply.is_error("WRONGTYPE")) << wrong.reply.text;
}

TEST(RedisClient, PipelinesConcurrentCallsOverOneConnection) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url());
  constexpr int callers = 300;
  int finished = 0, mismatched = 0;
  std::set<long long> counts;
  for (int i = 0; i < callers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          std::string key = "key:" + std::to_string(i), value = "value:" + std::to_string(i);
          // Named: GCC 12 miscompiles a braced list inside a co_await expression.
          std::vector<std::string> set_argv{"SET", key, value}, incr_argv{"INCR", "shared"},
              get_argv{"GET", key};
          auto set = co_await client.call(std::move(set_argv));
          auto incr = co_await client.call(std::move(incr_argv));
          auto get = co_await client.call(std::move(get_argv));
          if (set.reply.text != "OK" || get.reply.text != value) ++mismatched;
          counts.insert(incr.reply.integer);
          ++finished;
        },
        asio::detached);
  }
  auto until = SteadyClock::now() + 20s;
  while (finished < callers && SteadyClock::now() < until) io.run_one_for(100ms);
  ASSERT_EQ(finished, callers);
  EXPECT_EQ(mismatched, 0);
  // Every INCR got its own reply: 1..300 once each.
  EXPECT_EQ(counts.size(), static_cast<std::size_t>(callers));
  EXPECT_EQ(*counts.begin(), 1);
  EXPECT_EQ(*counts.rbegin(), callers);
  // One connection carried them all (CLIENT LIST lists one line per connection: ours).
  auto list = call(io, client, {"CLIENT", "LIST"});
  EXPECT_EQ(std::count(list.reply.text.begin(), list.reply.text.end(), '\n'), 1) << list.reply.text;
}

TEST(RedisClient, EvalShaLoadsTheScriptAgainAfterScriptFlush) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url());
  RedisScript script{"return redis.call('INCRBY', KEYS[1], ARGV[1])"};

  auto first = run(io, client.eval(script, {"tokens"}, {"5"}));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.reply.integer, 5);
  // EVAL cached it under the SHA1 computed here: the next EVALSHA needs no fallback.
  auto exists = call(io, client, {"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_EQ(exists.reply.elements.size(), 1u);
  EXPECT_EQ(exists.reply.elements[0].integer, 1);
  EXPECT_EQ(run(io, client.eval(script, {"tokens"}, {"1"})).reply.integer, 6);

  call(io, client, {"SCRIPT", "FLUSH"});
  auto bare = call(io, client, {"EVALSHA", script.sha1(), "1", "tokens", "1"});
  EXPECT_TRUE(bare.reply.is_error("NOSCRIPT")) << bare.reply.text;
  auto again = run(io, client.eval(script, {"tokens"}, {"10"}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.reply.integer, 16);
}

TEST(RedisClient, LogsInWithThePasswordInTheUrl) {
  RedisProcess server{server_args({"--requirepass", "s3cret"})};
  asio::io_context io;
  RedisClient client = make_client(io, "redis://:s3cret@" + server.address());
  auto ping = call(io, client, {"PING"});
  ASSERT_TRUE(ping.ok()) << to_string(ping.error);
  EXPECT_EQ(ping.reply.text, "PONG");

  RedisClient wrong = make_client(io, "redis://:nope@" + server.address());
  EXPECT_EQ(call(io, wrong, {"PING"}).error, CallError::Connection);
}

TEST(RedisClient, LogsInWithThePasswordOptionAndAsAnAclUser) {
  RedisProcess server{server_args({"--requirepass", "s3cret"})};
  server.cli({"-a", "s3cret", "--no-auth-warning", "ACL", "SETUSER", "alice", "on", ">wonder", "~*",
              "+@all"});
  asio::io_context io;
  auto with_password = options(server.url());
  with_password.password = "s3cret";
  RedisClient by_option{io, with_password};
  EXPECT_EQ(call(io, by_option, {"PING"}).reply.text, "PONG");
  // The option replaces a password in the URL.
  with_password.url = "redis://:stale@" + server.address();
  RedisClient replaced{io, with_password};
  EXPECT_EQ(call(io, replaced, {"PING"}).reply.text, "PONG");

  RedisClient alice = make_client(io, "redis://alice:wonder@" + server.address());
  auto whoami = call(io, alice, {"ACL", "WHOAMI"});
  ASSERT_TRUE(whoami.ok()) << to_string(whoami.error);
  EXPECT_EQ(whoami.reply.text, "alice");
}

TEST(RedisClient, SelectsTheDatabaseInTheUrl) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url() + "/2");
  ASSERT_TRUE(call(io, client, {"SET", "where", "db2"}).ok());
  EXPECT_EQ(server.cli({"-n", "2", "GET", "where"}), "db2");
  EXPECT_EQ(server.cli({"-n", "0", "EXISTS", "where"}), "0");
}

TEST(RedisClient, TimesOutOnASlowServerAndRecoversAfterIt) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url(), 50ms);
  ASSERT_TRUE(call(io, client, {"PING"}).ok());

  std::optional<CallResult> slow, behind;
  auto started = SteadyClock::now();
  SteadyClock::duration elapsed{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<std::string> argv{"DEBUG", "SLEEP", "0.3"};
        slow = co_await client.call(std::move(argv));
        elapsed = SteadyClock::now() - started;
      },
      asio::detached);
  // A call queued behind the slow one fails with it: the connection is dropped.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<std::string> argv{"PING"};
        behind = co_await client.call(std::move(argv));
      },
      asio::detached);
  io.restart();
  for (auto until = SteadyClock::now() + 2s; !(slow && behind) && SteadyClock::now() < until;)
    io.run_one_for(10ms);
  ASSERT_TRUE(slow && behind);
  EXPECT_EQ(slow->error, CallError::Timeout);
  EXPECT_LT(elapsed, 200ms);
  EXPECT_FALSE(behind->ok());

  std::this_thread::sleep_for(350ms);  // the server sleeps on
  auto after = call(io, client, {"PING"});
  ASSERT_TRUE(after.ok()) << to_string(after.error);
  EXPECT_EQ(after.reply.text, "PONG");
}

TEST(RedisClient, FailsFastWhileTheServerIsDownAndReconnectsWhenItIsBack) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url(), 500ms);
  ASSERT_TRUE(call(io, client, {"SET", "k", "v"}).ok());

  server.stop();
  auto started = SteadyClock::now();
  EXPECT_EQ(call(io, client, {"GET", "k"}).error, CallError::Connection);
  EXPECT_EQ(call(io, client, {"GET", "k"}).error, CallError::Connection);
  EXPECT_FALSE(client.connected());
  // Refused, then backing off: no call waits for its timeout.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(call(io, client, {"GET", "k"}).error, CallError::Connection);
  EXPECT_LT(SteadyClock::now() - started, 100ms);

  server.start();
  std::optional<CallResult> back;
  for (auto until = SteadyClock::now() + 5s; SteadyClock::now() < until; idle(io, 50ms)) {
    auto result = call(io, client, {"PING"});
    if (result.ok()) {
      back = result;
      break;
    }
  }
  ASSERT_TRUE(back.has_value()) << "no reconnect within 5 s";
  EXPECT_EQ(back->reply.text, "PONG");
  EXPECT_TRUE(client.connected());
}

TEST(RedisClient, CloseFailsPendingCalls) {
  RedisProcess server;
  asio::io_context io;
  RedisClient client = make_client(io, server.url(), 2000ms);
  ASSERT_TRUE(call(io, client, {"PING"}).ok());
  std::vector<CallResult> results;
  for (int i = 0; i < 2; ++i)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::vector<std::string> argv{"DEBUG", "SLEEP", "0.2"};
          results.push_back(co_await client.call(std::move(argv)));
        },
        asio::detached);
  idle(io, 20ms);
  client.close();
  idle(io, 20ms);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) EXPECT_EQ(result.error, CallError::Connection);
  EXPECT_EQ(call(io, client, {"PING"}).error, CallError::Connection);
}

TEST(RedisClient, SpeaksTlsToAVerifiedServer) {
  testing::TempDir certs_dir;
  auto certs = testing::make_test_certificates(certs_dir.path());
  RedisProcess::Options tls;
  tls.tls = certs;
  RedisProcess server{tls};
  asio::io_context io;
  auto trusting = options(server.url(), 2000ms);
  trusting.tls_ca_file = certs.ca_file;
  RedisClient client{io, trusting};
  ASSERT_EQ(server.url().substr(0, 9), "rediss://");
  auto set = call(io, client, {"SET", "secure", "yes"});
  ASSERT_TRUE(set.ok()) << to_string(set.error);
  EXPECT_EQ(call(io, client, {"GET", "secure"}).reply.text, "yes");

  // A certificate from another CA is refused.
  testing::TempDir other_dir;
  auto other = testing::make_test_certificates(other_dir.path());
  auto other_ca = trusting;
  other_ca.tls_ca_file = other.ca_file;
  RedisClient untrusting{io, other_ca};
  EXPECT_EQ(call(io, untrusting, {"PING"}).error, CallError::Connection);
}

TEST(RedisClient, ResolvesAHostName) {
  RedisProcess server;
  asio::io_context io;
  // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
  RedisClient client = make_client(io, "redis://localhost:" + std::to_string(server.port()));
  auto ping = call(io, client, {"PING"});
  ASSERT_TRUE(ping.ok()) << to_string(ping.error);
  EXPECT_EQ(ping.reply.text, "PONG");
}

// A peer that accepts one connection and writes `greeting` to it, or nothing: not a Redis.
struct FakeServer {
  explicit FakeServer(asio::io_context& io)
      : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}), peer(io) {
    acceptor.async_accept(peer, [this](boost::system::error_code ec) {
      if (!ec && !greeting.empty()) asio::async_write(peer, asio::buffer(greeting), [](auto...) {});
    });
  }
  // With a password, the client's first words are AUTH, during its connect.
  std::string url(bool login) const {
    return std::string{login ? "redis://:pw@" : "redis://"} +
           "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }

  asio::ip::tcp::acceptor acceptor;
  asio::ip::tcp::socket peer;
  std::string greeting;  // written once connected; empty: silence
};

TEST(RedisClient, ReportsBytesThatAreNotResp) {
  asio::io_context io;
  FakeServer fake{io};
  fake.greeting = "?what is this\r\n";
  RedisClient client = make_client(io, fake.url(false));
  EXPECT_EQ(call(io, client, {"PING"}).error, CallError::Protocol);
}

TEST(RedisClient, TimesOutALoginThatGetsNoAnswerAndBacksOff) {
  asio::io_context io;
  FakeServer fake{io};  // accepts, reads nothing, answers nothing: AUTH hangs
  RedisClient client = make_client(io, fake.url(true), 50ms);
  auto started = SteadyClock::now();
  EXPECT_EQ(call(io, client, {"PING"}).error, CallError::Timeout);
  EXPECT_LT(SteadyClock::now() - started, 200ms);
  // A connect that did not finish counts as failed: the next call does not wait.
  started = SteadyClock::now();
  EXPECT_EQ(call(io, client, {"PING"}).error, CallError::Connection);
  EXPECT_LT(SteadyClock::now() - started, 20ms);
}

TEST(RedisClient, RejectsBadOptionsAtConstruction) {
  asio::io_context io;
  EXPECT_THROW((RedisClient{io, options("http://127.0.0.1")}), std::invalid_argument);
  auto both = options("redis://a:1");
  both.cluster = {"b:2"};
  EXPECT_THROW((RedisClient{io, both}), std::invalid_argument);
  auto missing_ca = options("rediss://a:1");
  missing_ca.tls_ca_file = "/nonexistent.pem";
  EXPECT_THROW((RedisClient{io, missing_ca}), std::runtime_error);
}

}  // namespace
}  // namespace portico::stores::redis
