// Coarse per-worker deadlines. Arming one is a store of a time; a periodic sweep (every
// sweep_interval) fires the expired ones by cancelling the socket they guard. This keeps
// timer-queue work and timerfd syscalls off the per-request path.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>

namespace portico::net {

using Clock = std::chrono::steady_clock;

class DeadlineList;

class Deadline {
 public:
  explicit Deadline(DeadlineList& list);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Cancels pending operations on `socket` once `after` has passed (unless re-armed first).
  void arm(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds after);
  void disarm() { socket_ = nullptr; }
  bool fired() const { return fired_; }
  void clear_fired() { fired_ = false; }

 private:
  friend class DeadlineList;
  DeadlineList& list_;
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  boost::asio::ip::tcp::socket* socket_ = nullptr;
  Clock::time_point when_{};
  bool fired_ = false;
};

class DeadlineList {
 public:
  static constexpr std::chrono::milliseconds sweep_interval{50};
  void sweep(Clock::time_point now);  // fires everything due

 private:
  friend class Deadline;
  Deadline* head_ = nullptr;
};

}  // namespace portico::net
