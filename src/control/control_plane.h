// The control plane's event loop: one io_context on one thread for everything off the request
// path (active health checks, JWKS refresh, token introspection; DNS refresh runs on the gateway's
// own loop). A worker runs a call there with `co_await co_spawn(control.executor(), task(),
// use_awaitable)` and resumes on its own executor.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>

namespace portico::control {

class ControlPlane {
 public:
  using Executor = boost::asio::io_context::executor_type;

  ControlPlane();
  ~ControlPlane();  // stop()
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  Executor executor() noexcept { return io_.get_executor(); }
  boost::asio::io_context& context() noexcept { return io_; }

  // Starts the thread; does nothing while it runs. After stop() it starts again.
  void start();
  // Stops the loop and joins the thread; work still queued is abandoned: a worker awaiting it
  // stays suspended until the ControlPlane is destroyed, which hands the worker's coroutine back
  // to the worker's io_context to be destroyed there. So: stop the workers, then the control
  // plane, then destroy the workers' io_contexts. Idempotent,
  // callable from any thread; from the control thread itself it only stops the loop, and the
  // join is left to a later stop() or the destructor (which must not run on that thread).
  void stop();

 private:
  boost::asio::io_context io_;
  std::mutex mutex_;  // start() and stop() from different threads
  std::optional<boost::asio::executor_work_guard<Executor>> work_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
};

}  // namespace portico::control
