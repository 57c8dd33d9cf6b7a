#include "control/control_plane.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <future>

namespace portico::control {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<std::thread::id> control_task() {
  // A real wait, so that the caller is suspended across threads.
  asio::steady_timer timer{co_await asio::this_coro::executor, 10ms};
  co_await timer.async_wait(asio::use_awaitable);
  co_return std::this_thread::get_id();
}

struct Threads {
  std::thread::id before;
  std::thread::id task;
  std::thread::id after;
};

asio::awaitable<Threads> worker_task(ControlPlane& control) {
  Threads threads;
  threads.before = std::this_thread::get_id();
  threads.task = co_await asio::co_spawn(control.executor(), control_task(), asio::use_awaitable);
  threads.after = std::this_thread::get_id();
  co_return threads;
}

std::thread::id control_thread_of(ControlPlane& control) {
  std::promise<std::thread::id> id;
  asio::post(control.executor(), [&] { id.set_value(std::this_thread::get_id()); });
  auto future = id.get_future();
  EXPECT_EQ(future.wait_for(5s), std::future_status::ready);
  return future.get();
}

TEST(ControlPlane, RunsACallOnItsThreadAndResumesTheCallerOnItsOwn) {
  ControlPlane control;
  control.start();
  auto control_thread = control_thread_of(control);

  asio::io_context worker{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};  // as proxy/worker.cc builds it
  auto future = asio::co_spawn(worker, worker_task(control), asio::use_future);
  std::thread::id worker_id;
  std::thread worker_thread{[&] {
    worker_id = std::this_thread::get_id();
    worker.run();
  }};
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  worker_thread.join();
  auto threads = future.get();
  EXPECT_EQ(threads.before, worker_id);
  EXPECT_EQ(threads.task, control_thread);
  EXPECT_EQ(threads.after, worker_id);
}

TEST(ControlPlane, StopIsIdempotentAndJoins) {
  ControlPlane control;
  control.start();
  std::atomic<bool> ran{false};
  asio::post(control.executor(), [&] { ran = true; });
  control_thread_of(control);
  control.stop();
  control.stop();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(control.context().stopped());
}

TEST(ControlPlane, StopsFromAnotherThread) {
  ControlPlane control;
  control.start();
  std::thread other{[&] { control.stop(); }};
  other.join();
  EXPECT_TRUE(control.context().stopped());
}

TEST(ControlPlane, StopsFromItsOwnThread) {
  ControlPlane control;
  control.start();
  std::promise<void> stopped;
  asio::post(control.executor(), [&] {
    control.stop();  // cannot join itself: stops the loop, the destructor joins
    stopped.set_value();
  });
  EXPECT_EQ(stopped.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(control.context().stopped());
}

TEST(ControlPlane, StartsAgainAfterStop) {
  ControlPlane control;
  control.start();
  control.start();  // no second thread
  control.stop();
  control.start();
  auto id = control_thread_of(control);
  EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ControlPlane, DestroysAbandonedWork) {
  auto destroyed = std::make_shared<int>(0);
  {
    ControlPlane control;
    control.start();
    std::promise<void> waiting;
    asio::co_spawn(
        control.executor(),
        [&waiting, held = destroyed]() -> asio::awaitable<void> {
          asio::steady_timer timer{co_await asio::this_coro::executor, 30s};
          waiting.set_value();
          co_await timer.async_wait(asio::use_awaitable);
        },
        asio::detached);
    ASSERT_EQ(waiting.get_future().wait_for(5s), std::future_status::ready);
    control.stop();
  }
  EXPECT_EQ(destroyed.use_count(), 1);
}

}  // namespace
}  // namespace portico::control
