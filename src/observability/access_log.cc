#include "observability/access_log.h"
#include "core/text.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace portico::observability {

namespace {

// A worker hands its buffer over once it passes this size; the writer keeps a few spares.
constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr std::size_t max_spares = 8;
// About 16 MiB waiting for a disk that cannot keep up: beyond that, lines are dropped rather
// than letting the gateway's memory grow without bound.
constexpr std::size_t max_queued_chunks = 256;

using core::append_number;

void append_fixed3(std::string& out, double value) {
  char digits[40];
  auto [end, ec] =
      std::to_chars(digits, digits + sizeof digits, value, std::chars_format::fixed, 3);
  if (ec != std::errc{}) {
    out += '0';
    return;
  }
  out.append(digits, end);
}

void append_padded(std::string& out, unsigned value, int width) {
  char digits[12];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  for (auto n = end - digits; n < width; ++n) out += '0';
  out.append(digits, end);
}

// Length of the well-formed UTF-8 sequence at s[0], or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Like core::append_json_escaped, but a byte that is not part of valid UTF-8 (a raw path may
// carry anything) is written as \u00XX so that every line stays valid JSON for log shippers.
void append_escaped(std::string& out, std::string_view text) {
  constexpr const auto& hex = core::hex_digits;
  for (std::size_t i = 0; i < text.size();) {
    auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x80) {
      if (auto n = utf8_sequence_length(text.substr(i)); n > 0) {
        out.append(text.data() + i, n);
        i += n;
        continue;
      }
    }
    if (u == '"' || u == '\\') {
      out += '\\';
      out += static_cast<char>(u);
    } else if (u < 0x20 || u >= 0x7F) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += static_cast<char>(u);
    }
    ++i;
  }
}

void append_string(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_escaped(out, value);
  out += '"';
}

void append_optional(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) return append_string(out, key, value);
  out += ",\"";
  out += key;
  out += "\":null";
}

void append_time(std::string& out, std::int64_t unix_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> t{milliseconds{unix_ms}};
  auto day = floor<days>(t);
  year_month_day date{day};
  hh_mm_ss clock{t - day};
  append_padded(out, static_cast<unsigned>(static_cast<int>(date.year())), 4);
  out += '-';
  append_padded(out, static_cast<unsigned>(date.month()), 2);
  out += '-';
  append_padded(out, static_cast<unsigned>(date.day()), 2);
  out += 'T';
  append_padded(out, static_cast<unsigned>(clock.hours().count()), 2);
  out += ':';
  append_padded(out, static_cast<unsigned>(clock.minutes().count()), 2);
  out += ':';
  append_padded(out, static_cast<unsigned>(clock.seconds().count()), 2);
  out += '.';
  append_padded(out, static_cast<unsigned>(clock.subseconds().count()), 3);
  out += 'Z';
}

bool equals_ascii_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A client that writes "%74oken" or "Access_Token" means the same secret, so the name is
// compared after percent-decoding and without regard to case.
bool is_secret_param(std::string_view name) {
  char decoded[16];
  std::size_t n = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (n == sizeof decoded) return false;
    char c = name[i];
    if (c == '%' && i + 2 < name.size() && hex_value(name[i + 1]) >= 0 &&
        hex_value(name[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(name[i + 1]) * 16 + hex_value(name[i + 2]));
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    decoded[n++] = c;
  }
  std::string_view plain{decoded, n};
  return equals_ascii_nocase(plain, "token") || equals_ascii_nocase(plain, "access_token");
}

void append_redacted_query(std::string& out, std::string_view query) {
  while (true) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    auto eq = param.find('=');
    if (eq != std::string_view::npos && is_secret_param(param.substr(0, eq))) {
      append_escaped(out, param.substr(0, eq + 1));
      out += "***";
    } else {
      append_escaped(out, param);
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

void format_access_log_line(std::string& out, const AccessLogEntry& entry) {
  out += "{\"time\":\"";
  append_time(out, entry.time_unix_ms);
  out += '"';
  append_string(out, "request_id", entry.request_id);
  append_optional(out, "trace_id", entry.trace_id);
  append_string(out, "client_ip", entry.client_ip);
  append_string(out, "method", entry.method);
  if (!entry.protocol.empty()) append_string(out, "protocol", entry.protocol);
  out += ",\"path\":\"";
  append_escaped(out, entry.path);
  if (!entry.query.empty()) {
    out += '?';
    append_redacted_query(out, entry.query);
  }
  out += '"';
  append_optional(out, "route", entry.route);
  out += ",\"status\":";
  append_number(out, entry.status);
  append_optional(out, "upstream", entry.upstream);
  append_optional(out, "target", entry.target);
  out += ",\"duration_ms\":";
  append_fixed3(out, entry.duration_ms);
  out += ",\"upstream_ms\":";
  if (entry.upstream_ms < 0) {
    out += "null";
  } else {
    append_fixed3(out, entry.upstream_ms);
  }
  out += ",\"bytes_in\":";
  append_number(out, entry.bytes_in);
  out += ",\"bytes_out\":";
  append_number(out, entry.bytes_out);
  append_optional(out, "consumer", entry.consumer);
  append_optional(out, "cache", entry.cache);
  out += ",\"retries\":";
  append_number(out, entry.retries);
  if (entry.calls > 0) {
    out += ",\"calls\":";
    append_number(out, entry.calls);
  }
  append_optional(out, "error", entry.error);
  out += "}\n";
}

AccessLogBuffer::AccessLogBuffer(std::shared_ptr<AccessLogWriter> writer)
    : writer_(std::move(writer)) {
  writer_->take_spare(buffer_);
}

AccessLogBuffer::~AccessLogBuffer() {
  flush();
}

void AccessLogBuffer::append(const AccessLogEntry& entry) {
  format_access_log_line(buffer_, entry);
  if (buffer_.size() > chunk_bytes) flush();
}

void AccessLogBuffer::flush() {
  if (buffer_.empty()) return;
  writer_->submit(std::move(buffer_));
  writer_->take_spare(buffer_);
}

AccessLogWriter::AccessLogWriter(const std::string& path) {
  if (path == "stdout") {
    fd_ = STDOUT_FILENO;
  } else if (path == "stderr") {
    fd_ = STDERR_FILENO;
  } else {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::runtime_error("cannot open access log " + path + ": " + std::strerror(errno));
    }
    owns_fd_ = true;
  }
  thread_ = std::thread([this] { run(); });
}

AccessLogWriter::~AccessLogWriter() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (owns_fd_) ::close(fd_);
}

void AccessLogWriter::submit(std::string&& chunk) {
  if (chunk.empty()) return;
  {
    std::lock_guard lock{mutex_};
    if (queue_.size() >= max_queued_chunks) {
      dropped_chunks_.fetch_add(1, std::memory_order_relaxed);
      chunk.clear();
      return;
    }
    queue_.push_back(std::move(chunk));
  }
  wake_.notify_one();
}

void AccessLogWriter::take_spare(std::string& into) {
  {
    std::lock_guard lock{mutex_};
    if (!spares_.empty()) {
      into = std::move(spares_.front());
      spares_.pop_front();
      into.clear();
      return;
    }
  }
  into.clear();
  // One line more than a chunk, so that the line that crosses the threshold fits too.
  into.reserve(chunk_bytes + 4096);
}

void AccessLogWriter::flush_and_wait() {
  std::unique_lock lock{mutex_};
  idle_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

namespace {

// Writes all of `data`, riding out EINTR, short writes and a non-blocking stdout that is full.
// Gives up on other errors: a log line is not worth stopping the gateway for.
void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else {
      return;
    }
  }
}

}  // namespace

void AccessLogWriter::run() {
  std::unique_lock lock{mutex_};
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and everything queued has been written
    std::string chunk = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    write_all(fd_, chunk);
    chunk.clear();
    lock.lock();
    writing_ = false;
    if (spares_.size() < max_spares) spares_.push_back(std::move(chunk));
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

}  // namespace portico::observability
