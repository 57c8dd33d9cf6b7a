#include "net/buffer_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace portico::net {
namespace {

constexpr std::size_t kSize = 16 * 1024;

// Pages of the buffer the kernel has resident (mincore).
std::size_t resident_pages(const Buffer& buffer) {
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((buffer.capacity + page - 1) / page);
  EXPECT_EQ(::mincore(buffer.data, buffer.capacity, pages.data()), 0);
  std::size_t n = 0;
  for (auto p : pages) n += p & 1;
  return n;
}

std::vector<std::unique_ptr<Buffer>> take_dirty(BufferPool& pool, std::size_t n) {
  std::vector<std::unique_ptr<Buffer>> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(pool.acquire());
    std::memset(out.back()->data, 'x', out.back()->capacity);
  }
  return out;
}

TEST(BufferPool, ReleaseKeepsPagesUntilATrimFindsTheBufferIdleAWholeInterval) {
  BufferPool pool(kSize);
  const std::size_t n = BufferPool::warm_idle + 10;
  auto held = take_dirty(pool, n);
  std::vector<const Buffer*> order;
  for (auto& b : held) order.push_back(b.get());
  for (auto& b : held) pool.release(std::move(b));
  ASSERT_EQ(pool.idle_count(), n);
  for (auto* b : order) EXPECT_EQ(resident_pages(*b), kSize / ::sysconf(_SC_PAGESIZE));

  pool.trim();  // the first interval began with none idle: nothing was idle all through it
  for (auto* b : order) EXPECT_TRUE(b->resident);

  pool.trim();  // all n stayed idle: the 10 at the bottom (idle longest) give their pages back
  for (std::size_t i = 0; i < n; ++i) {
    bool cold = i < n - BufferPool::warm_idle;
    EXPECT_EQ(order[i]->resident, !cold) << i;
    EXPECT_EQ(resident_pages(*order[i]) == 0, cold) << i;
  }
}

TEST(BufferPool, BuffersInUseDuringTheIntervalStayWarm) {
  BufferPool pool(kSize);
  const std::size_t n = BufferPool::warm_idle + 10;
  auto held = take_dirty(pool, n);
  for (auto& b : held) pool.release(std::move(b));
  pool.trim();
  // Load: every buffer is taken and given back before the next trim.
  auto again = take_dirty(pool, n);
  for (auto& b : again) pool.release(std::move(b));
  pool.trim();
  auto all = take_dirty(pool, n);
  for (auto& b : all) EXPECT_TRUE(b->resident);
}

TEST(BufferPool, AColdBufferIsReusedLastAndWarmAgainOnceTaken) {
  BufferPool pool(kSize);
  const std::size_t n = BufferPool::warm_idle + 1;
  auto held = take_dirty(pool, n);
  const Buffer* first = held.front().get();
  for (auto& b : held) pool.release(std::move(b));
  pool.trim();
  pool.trim();
  ASSERT_FALSE(first->resident);
  std::vector<std::unique_ptr<Buffer>> taken;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    taken.push_back(pool.acquire());
    EXPECT_NE(taken.back().get(), first);
  }
  auto last = pool.acquire();
  EXPECT_EQ(last.get(), first);
  EXPECT_TRUE(last->resident);
}

}  // namespace
}  // namespace portico::net
