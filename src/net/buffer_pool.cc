#include "net/buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>
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
  low_water_ = std::min(low_water_, idle_.size());
  buffer->reset();
  buffer->resident = true;
  return buffer;
}

void BufferPool::release(std::unique_ptr<Buffer> buffer) {
  if (!buffer || buffer->capacity != buffer_size_ || idle_.size() >= max_idle_) return;
  idle_.push_back(std::move(buffer));
}

void BufferPool::trim() {
  // idle_[0, low_water_) were not touched since the last trim; keep the top warm_idle of all.
  std::size_t quiet = std::min(low_water_, idle_.size() > warm_idle ? idle_.size() - warm_idle : 0);
  for (std::size_t i = 0; i < quiet; ++i) {
    auto& buffer = *idle_[i];
    if (!buffer.resident) continue;
    ::madvise(buffer.data, buffer.capacity, MADV_DONTNEED);
    buffer.resident = false;
  }
  low_water_ = idle_.size();
}

void BufferPool::set_buffer_size(std::size_t size) {
  if (size == buffer_size_) return;
  buffer_size_ = size;
  idle_.clear();
  low_water_ = 0;
}

}  // namespace portico::net
