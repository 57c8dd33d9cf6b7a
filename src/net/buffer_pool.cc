#include "net/buffer_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace portico::net {

Buffer::Buffer(std::size_t size) : capacity(size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data = static_cast<char*>(p);
}

Buffer::~Buffer() {
  ::munmap(data, capacity);
}

void Buffer::compact() {
  if (begin == 0) return;
  std::memmove(data, data + begin, end - begin);
  end -= begin;
  begin = 0;
}

std::unique_ptr<Buffer> BufferPool::acquire() {
  if (idle_.empty()) return std::make_unique<Buffer>(buffer_size_);
  auto buffer = std::move(idle_.back());
  idle_.pop_back();
  buffer->reset();
  return buffer;
}

void BufferPool::release(std::unique_ptr<Buffer> buffer) {
  if (!buffer || buffer->capacity != buffer_size_ || idle_.size() >= max_idle_) return;
  // A few idle buffers stay warm for the next burst; the rest keep their mapping but give
  // their pages back, so that thousands of connections going quiet at once do not leave
  // their buffers' pages resident (a reused one faults its pages in again).
  if (idle_.size() >= warm_idle) ::madvise(buffer->data, buffer->capacity, MADV_DONTNEED);
  idle_.push_back(std::move(buffer));
}

void BufferPool::set_buffer_size(std::size_t size) {
  if (size == buffer_size_) return;
  buffer_size_ = size;
  idle_.clear();
}

}  // namespace portico::net
