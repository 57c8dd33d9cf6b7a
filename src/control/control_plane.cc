#include "control/control_plane.h"

namespace portico::control {

// Other threads post into this loop (co_spawn from workers), so it keeps Asio's locking; the
// hint says only that one thread runs it.
ControlPlane::ControlPlane() : io_(1) {}

ControlPlane::~ControlPlane() {
  stop();
}

void ControlPlane::start() {
  std::lock_guard lock{mutex_};
  if (thread_.joinable()) return;
  io_.restart();
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    thread_id_ = std::this_thread::get_id();
    io_.run();
  });
}

void ControlPlane::stop() {
  if (std::this_thread::get_id() == thread_id_.load()) {
    io_.stop();
    return;
  }
  std::lock_guard lock{mutex_};
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  thread_id_ = std::thread::id{};
}

}  // namespace portico::control
