// The JSON access log (behaviour.md "Access log"). Workers format lines into their own
// AccessLogBuffer; full buffers are handed to one writer thread, so no request waits on disk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace portico::observability {

struct AccessLogEntry {
  std::int64_t time_unix_ms = 0;
  std::string_view request_id;
  std::string_view trace_id;
  std::string_view client_ip;
  std::string_view method;
  std::string_view protocol;  // "HTTP/1.1", "HTTP/1.0", "HTTP/2"; left out when empty
  std::string_view path;      // raw path
  std::string_view query;  // raw query; token / access_token values are redacted when written
  std::string_view route;
  int status = 0;
  std::string_view upstream;
  std::string_view target;
  double duration_ms = 0;
  double upstream_ms = -1;  // < 0: no upstream call
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string_view consumer;
  std::string_view cache;
  int retries = 0;
  int calls = 0;           // an aggregate's upstream calls; written only when there were some
  std::string_view error;  // why the gateway answered itself, empty otherwise
};

// Appends one JSON line for `entry` (with the trailing '\n'). Empty optional fields (trace_id,
// route, upstream, target, consumer, cache, error) are written as null, as is upstream_ms < 0.
void format_access_log_line(std::string& out, const AccessLogEntry& entry);

class AccessLogWriter;

// One per worker; single-threaded.
class AccessLogBuffer {
 public:
  explicit AccessLogBuffer(std::shared_ptr<AccessLogWriter> writer);
  ~AccessLogBuffer();
  void append(const AccessLogEntry& entry);  // hands off to the writer when the buffer is full
  void flush();                              // hand off whatever is buffered (timer, shutdown)
 private:
  std::shared_ptr<AccessLogWriter> writer_;
  std::string buffer_;
};

// Owns the file descriptor and the thread that writes handed-off buffers in order.
class AccessLogWriter {
 public:
  // path: "stdout", "stderr" or a file (appended, created 0644). Throws std::runtime_error
  // when the file cannot be opened.
  explicit AccessLogWriter(const std::string& path);
  ~AccessLogWriter();  // writes what is queued, then stops
  void submit(std::string&& chunk);
  void take_spare(std::string& into);  // a recycled empty buffer with capacity, if any
  void flush_and_wait();
  // Chunks refused because the queue was full (the disk could not keep up).
  std::uint64_t dropped_chunks() const { return dropped_chunks_.load(std::memory_order_relaxed); }

 private:
  void run();
  int fd_ = -1;
  bool owns_fd_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> queue_;
  std::deque<std::string> spares_;
  bool writing_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> dropped_chunks_{0};
  std::thread thread_;
};

}  // namespace portico::observability
