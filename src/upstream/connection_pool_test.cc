#include "upstream/connection_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

using namespace portico::upstream;
using namespace std::chrono_literals;

namespace {

struct PoolTest : ::testing::Test {
  boost::asio::io_context io;
  ConnectionPool pool{"127.0.0.1:1", 3};

  // A pooled connection with an open socket, as one that finished an exchange would be.
  std::unique_ptr<UpstreamConnection> open_connection() {
    auto c = std::make_unique<UpstreamConnection>(io.get_executor());
    c->socket.open(boost::asio::ip::tcp::v4());
    pool.opened();
    return c;
  }
};

}  // namespace

TEST_F(PoolTest, HandsBackTheMostRecentlyUsedConnectionFirst) {
  auto a = open_connection();
  auto b = open_connection();
  auto* b_raw = b.get();
  pool.give_back(std::move(a));
  pool.give_back(std::move(b));
  EXPECT_EQ(pool.take_idle().get(), b_raw);
  EXPECT_EQ(pool.idle_count(), 1u);
}

TEST_F(PoolTest, CountsOpenConnectionsAgainstTheBound) {
  auto a = open_connection();
  auto b = open_connection();
  EXPECT_TRUE(pool.can_open());
  auto c = open_connection();
  EXPECT_FALSE(pool.can_open());
  pool.discard(std::move(c));
  EXPECT_TRUE(pool.can_open());
  EXPECT_EQ(pool.open_count(), 2u);
}

TEST_F(PoolTest, SweepClosesOnlyConnectionsIdlePastTheTimeout) {
  auto old1 = open_connection();
  auto fresh = open_connection();
  auto old2 = open_connection();
  auto* fresh_raw = fresh.get();
  pool.give_back(std::move(old1));
  pool.give_back(std::move(fresh));
  pool.give_back(std::move(old2));
  // Sweep as if 2 s passed, with only `fresh` used recently: expired ones sit on both sides.
  auto now = Clock::now() + 2s;
  fresh_raw->idle_since = now - 100ms;
  pool.set_idle_timeout(1s);
  pool.sweep(now);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_EQ(pool.open_count(), 1u);
  EXPECT_EQ(pool.take_idle().get(), fresh_raw);
}

TEST_F(PoolTest, SkipsConnectionsClosedWhileIdle) {
  auto a = open_connection();
  a->socket.close();
  pool.give_back(std::move(a));
  EXPECT_EQ(pool.take_idle(), nullptr);
  EXPECT_EQ(pool.open_count(), 0u);
}

TEST_F(PoolTest, AConnectionComingBackIsHandedToTheFirstWaiter) {
  auto a = open_connection();
  auto* a_raw = a.get();
  boost::asio::steady_timer first_timer(io, 10s), second_timer(io, 10s);
  ConnectionPool::Waiter first(first_timer), second(second_timer);
  bool woken = false;
  first_timer.async_wait(
      [&](boost::system::error_code ec) { woken = ec == boost::asio::error::operation_aborted; });
  pool.add_waiter(first);
  pool.add_waiter(second);
  pool.give_back(std::move(a));
  io.run_for(100ms);
  EXPECT_TRUE(woken);
  EXPECT_EQ(first.connection.get(), a_raw);  // not left in the pool for another request
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(second.connection, nullptr);
  pool.remove_waiter(second);
}

TEST_F(PoolTest, AConnectionClosingLeavesItsPlaceToTheFirstWaiter) {
  auto a = open_connection();
  auto b = open_connection();
  auto c = open_connection();
  EXPECT_FALSE(pool.can_open());
  boost::asio::steady_timer timer(io, 10s);
  ConnectionPool::Waiter waiter(timer);
  pool.add_waiter(waiter);
  pool.discard(std::move(c));
  EXPECT_TRUE(waiter.slot);
  EXPECT_FALSE(pool.can_open());  // the place is the waiter's, not anyone's
  pool.use_slot();
  pool.opened();
  EXPECT_EQ(pool.open_count(), 3u);
}

TEST_F(PoolTest, ARemovedWaiterIsNotWoken) {
  auto a = open_connection();
  boost::asio::steady_timer timer(io, 50ms);
  ConnectionPool::Waiter waiter(timer);
  bool aborted = false;
  timer.async_wait(
      [&](boost::system::error_code ec) { aborted = ec == boost::asio::error::operation_aborted; });
  pool.add_waiter(waiter);
  pool.remove_waiter(waiter);
  pool.discard(std::move(a));
  io.run_for(1s);
  EXPECT_FALSE(aborted);
  EXPECT_FALSE(waiter.slot);
}
