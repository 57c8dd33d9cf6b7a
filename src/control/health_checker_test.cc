#include "control/health_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "control/test_server.h"

namespace portico::control {
namespace {

using namespace std::chrono_literals;
using test::TestServer;
using tcp = boost::asio::ip::tcp;

config::HealthCheckConfig fast_check(std::string type = "http") {
  config::HealthCheckConfig config;
  config.type = std::move(type);
  config.path = "/healthz";
  config.interval = 50ms;
  config.timeout = 200ms;
  config.healthy_after = 2;
  config.unhealthy_after = 3;
  return config;
}

HealthTarget target_at(unsigned short port, std::string host_header = {}) {
  return {"t" + std::to_string(port),
          tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port},
          std::move(host_header),
          {}};
}

// What the callback saw, with a server's answer count taken at that moment: the callback runs
// before the next probe, so the count says how many probes the transition took.
struct Transitions {
  struct Entry {
    std::size_t index;
    bool healthy;
    int answered;
  };
  void count_with(std::function<int()> count) {
    std::lock_guard lock{mutex};
    answered = std::move(count);
  }
  void add(std::size_t index, bool healthy) {
    std::lock_guard lock{mutex};
    entries.push_back({index, healthy, answered()});
  }
  std::vector<Entry> snapshot() {
    std::lock_guard lock{mutex};
    return entries;
  }
  std::size_t size() { return snapshot().size(); }

  std::mutex mutex;
  std::function<int()> answered = [] { return 0; };
  std::vector<Entry> entries;
};

class HealthCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override { control_.start(); }
  void TearDown() override { control_.stop(); }

  std::unique_ptr<HealthChecker> make(config::HealthCheckConfig config,
                                      std::vector<HealthTarget> targets) {
    return std::make_unique<HealthChecker>(
        std::move(config), std::move(targets),
        [this](std::size_t index, bool healthy) { transitions_.add(index, healthy); });
  }

  ControlPlane control_;
  Transitions transitions_;
};

TEST_F(HealthCheckerTest, TargetAnswering200StaysHealthy) {
  TestServer server;
  auto checker = make(fast_check(), {target_at(server.port(), "api.internal")});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return server.answered(200) >= 4; }));
  checker->stop();
  EXPECT_TRUE(checker->healthy(0));
  EXPECT_EQ(transitions_.size(), 0u);
  auto seen = server.seen();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/healthz");
  EXPECT_EQ(seen[0].header("Host"), "api.internal");
  EXPECT_EQ(seen[0].header("Connection"), "close");
}

TEST_F(HealthCheckerTest, FlipsAfterExactlyTheConfiguredProbes) {
  TestServer server;
  auto checker = make(fast_check(), {target_at(server.port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return server.answered(200) >= 2; }));

  transitions_.count_with([&] { return server.answered(500); });
  server.answer(500);
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 1; }));
  auto down = transitions_.snapshot()[0];
  EXPECT_EQ(down.index, 0u);
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.answered, 3);  // unhealthy_after
  EXPECT_FALSE(checker->healthy(0));

  int before = server.answered(200);
  transitions_.count_with([&] { return server.answered(200) - before; });
  server.answer(200);
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 2; }));
  auto up = transitions_.snapshot()[1];
  EXPECT_TRUE(up.healthy);
  EXPECT_EQ(up.answered, 2);  // healthy_after
  EXPECT_TRUE(checker->healthy(0));
}

TEST_F(HealthCheckerTest, RedirectsCountAsHealthyAndClientErrorsDoNot) {
  TestServer redirect;
  redirect.answer(302);
  TestServer missing;
  missing.answer(404);
  auto config = fast_check();
  config.unhealthy_after = 1;
  auto checker = make(config, {target_at(redirect.port()), target_at(missing.port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 1; }));
  ASSERT_TRUE(test::eventually([&] { return redirect.answered(302) >= 3; }));
  auto entries = transitions_.snapshot();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].index, 1u);
  EXPECT_FALSE(entries[0].healthy);
  EXPECT_TRUE(checker->healthy(0));
  EXPECT_FALSE(checker->healthy(1));
}

TEST_F(HealthCheckerTest, HangingTargetFailsByTimeout) {
  TestServer server;
  server.set_mode(TestServer::Mode::Hang);
  auto config = fast_check();
  config.timeout = 100ms;
  config.unhealthy_after = 2;
  auto checker = make(config, {target_at(server.port())});
  auto started = std::chrono::steady_clock::now();
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 1; }));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(checker->healthy(0));
  EXPECT_GE(took, 2 * 100ms);  // two probes, each ended by its timeout
  EXPECT_LT(took, 2s);
  // Each timed-out probe closed its connection.
  EXPECT_TRUE(test::eventually([&] { return server.hung_up() >= 2; }));
}

TEST_F(HealthCheckerTest, ClosedConnectionWithoutAnswerFails) {
  TestServer server;
  server.set_mode(TestServer::Mode::Close);
  auto config = fast_check();
  config.unhealthy_after = 1;
  auto checker = make(config, {target_at(server.port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 1; }));
  EXPECT_FALSE(checker->healthy(0));
}

TEST_F(HealthCheckerTest, TcpCheckOnAClosedPortTurnsUnhealthy) {
  TestServer open;
  auto checker = make(fast_check("tcp"), {target_at(open.port()), target_at(test::closed_port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return transitions_.size() == 1; }));
  auto entries = transitions_.snapshot();
  EXPECT_EQ(entries[0].index, 1u);
  EXPECT_FALSE(entries[0].healthy);
  EXPECT_TRUE(checker->healthy(0));
  EXPECT_FALSE(checker->healthy(1));
  EXPECT_EQ(open.requests(), 0);  // a tcp check sends nothing
}

TEST_F(HealthCheckerTest, NoCallbackAfterStopAndStopEndsProbesInFlight) {
  TestServer server;
  server.set_mode(TestServer::Mode::Hang);
  auto config = fast_check();
  config.timeout = 10s;  // only stop() can end the probe in time
  config.unhealthy_after = 1;
  auto checker = make(config, {target_at(server.port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return server.requests() == 1; }));
  auto stopped = std::chrono::steady_clock::now();
  checker->stop();
  // The probe's connection is closed at once, and the loop makes no more.
  ASSERT_TRUE(test::eventually([&] { return server.hung_up() == 1; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 2s);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(transitions_.size(), 0u);
  EXPECT_TRUE(checker->healthy(0));
  checker.reset();
}

TEST_F(HealthCheckerTest, DestroyingWithoutStopIsClean) {
  TestServer server;
  server.answer(500);
  auto config = fast_check();
  config.unhealthy_after = 1;
  auto checker = make(config, {target_at(server.port()), target_at(test::closed_port())});
  checker->start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return server.answered(500) >= 1; }));
  checker.reset();  // while probes may be in flight
  auto count = transitions_.size();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(transitions_.size(), count);
}

TEST_F(HealthCheckerTest, CallbackMayStopTheChecker) {
  TestServer server;
  server.answer(500);
  auto config = fast_check();
  config.unhealthy_after = 1;
  HealthChecker* self = nullptr;
  std::atomic<int> calls{0};
  HealthChecker checker{config, {target_at(server.port())}, [&](std::size_t, bool) {
                          ++calls;
                          self->stop();
                        }};
  self = &checker;
  checker.start(control_.executor());
  ASSERT_TRUE(test::eventually([&] { return calls == 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(HealthCheckerTest, StopBeforeStartAndTwiceIsHarmless) {
  auto checker = make(fast_check(), {target_at(test::closed_port())});
  checker->stop();
  checker->stop();
  checker->start(control_.executor());  // after stop: ignored
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(checker->healthy(0));
  EXPECT_EQ(transitions_.size(), 0u);
  EXPECT_EQ(checker->size(), 1u);
}

}  // namespace
}  // namespace portico::control
