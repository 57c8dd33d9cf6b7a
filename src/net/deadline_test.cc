#include "net/deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <memory>
#include <string_view>

#include "net/buffer_pool.h"

using namespace portico::net;
using namespace std::chrono_literals;

namespace {

struct DeadlineTest : ::testing::Test {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  boost::asio::ip::tcp::socket socket{io};
  DeadlineList list;

  DeadlineTest() { socket.connect(acceptor.local_endpoint()); }
};

}  // namespace

TEST_F(DeadlineTest, FiresOnceDueAndCancelsThePendingRead) {
  Deadline deadline(list);
  deadline.arm(socket, 10ms);
  boost::system::error_code result;
  char byte;
  socket.async_read_some(boost::asio::buffer(&byte, 1),
                         [&](boost::system::error_code ec, std::size_t) { result = ec; });
  list.sweep(Clock::now());  // not yet due
  EXPECT_FALSE(deadline.fired());
  list.sweep(Clock::now() + 20ms);
  EXPECT_TRUE(deadline.fired());
  io.run_for(1s);
  EXPECT_EQ(result, boost::asio::error::operation_aborted);
}

TEST_F(DeadlineTest, ADisarmedDeadlineNeverFires) {
  Deadline deadline(list);
  deadline.arm(socket, 10ms);
  deadline.disarm();
  list.sweep(Clock::now() + 1s);
  EXPECT_FALSE(deadline.fired());
}

TEST_F(DeadlineTest, RearmingPushesTheDeadlineOut) {
  Deadline deadline(list);
  deadline.arm(socket, 10ms);
  deadline.arm(socket, 10s);
  list.sweep(Clock::now() + 1s);
  EXPECT_FALSE(deadline.fired());
}

TEST_F(DeadlineTest, DestroyedDeadlinesLeaveTheList) {
  auto first = std::make_unique<Deadline>(list);
  Deadline second(list);
  auto third = std::make_unique<Deadline>(list);
  first->arm(socket, 1ms);
  third.reset();
  first.reset();
  second.arm(socket, 1ms);
  list.sweep(Clock::now() + 1s);  // walks only live deadlines (ASan would catch the rest)
  EXPECT_TRUE(second.fired());
}

TEST(BufferPool, ReusesReleasedBuffersOfTheCurrentSize) {
  BufferPool pool(4096, 2);
  auto a = pool.acquire();
  auto* raw = a.get();
  a->end = 100;
  pool.release(std::move(a));
  auto b = pool.acquire();
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(b->size(), 0u);  // handed out empty
  pool.set_buffer_size(8192);
  pool.release(std::move(b));  // the old size is not kept
  EXPECT_EQ(pool.acquire()->capacity, 8192u);
}

TEST(BufferPool, CompactMovesUnreadBytesToTheFront) {
  Buffer buffer(64);
  std::memcpy(buffer.data, "headbody", 8);
  buffer.end = 8;
  buffer.begin = 4;
  buffer.compact();
  EXPECT_EQ(buffer.begin, 0u);
  EXPECT_EQ(buffer.end, 4u);
  EXPECT_EQ(std::string_view(buffer.data, 4), "body");
}
