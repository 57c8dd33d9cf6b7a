// Per-worker pool of fixed-size I/O buffers. A connection holds one only while it has bytes
// in flight, so 10,000 idle keep-alive connections cost no buffer memory.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace portico::net {

// Each buffer is its own anonymous mapping: only the pages a connection actually touched count
// toward RSS, and a released buffer goes back to the kernel instead of fragmenting the heap.
struct Buffer {
  explicit Buffer(std::size_t capacity);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  char* data;
  std::size_t capacity;
  std::size_t begin = 0;  // first unconsumed byte
  std::size_t end = 0;    // one past the last received byte
  std::size_t size() const { return end - begin; }
  char* read_ptr() { return data + begin; }
  char* write_ptr() { return data + end; }
  std::size_t space() const { return capacity - end; }
  void reset() { begin = end = 0; }
  bool resident = true;  // false once its pages were given back (they fault in again on use)
  // Moves unconsumed bytes to the front so the next read has the most room.
  void compact();
};

// Idle buffers are a stack: the most recently released is reused first, so the ones at the
// bottom are those idle longest. Releasing never gives pages back (under load buffers cycle
// between connections thousands of times a second, and each give-back costs a page fault per
// page on reuse); trim(), called about once a second, gives back the pages of the buffers that
// stayed idle through the whole interval, beyond a warm reserve.
class BufferPool {
 public:
  static constexpr std::size_t warm_idle = 64;  // idle buffers that keep their pages
  explicit BufferPool(std::size_t buffer_size, std::size_t max_idle = 1024)
      : buffer_size_(buffer_size), max_idle_(max_idle) {}
  std::unique_ptr<Buffer> acquire();
  void release(std::unique_ptr<Buffer> buffer);
  void trim();
  std::size_t buffer_size() const { return buffer_size_; }
  void set_buffer_size(std::size_t size);  // after a reload with larger limits
  std::size_t idle_count() const { return idle_.size(); }

 private:
  std::size_t buffer_size_;
  std::size_t max_idle_;
  std::vector<std::unique_ptr<Buffer>> idle_;
  std::size_t low_water_ = 0;  // the fewest idle buffers since the last trim
};

}  // namespace portico::net
