// Keys fetched from a `jwks_url`, off the request path on the control plane: at start, every
// refresh interval, and when a token names a kid the set lacks (at most once per
// `min_refetch`). A fetch that fails, or a document that does not parse, keeps the last good
// set. Workers read the current set without locking.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "control/control_plane.h"
#include "filters/jwt_auth/key_set.h"

namespace portico::jwt {

class JwksSource : public std::enable_shared_from_this<JwksSource> {
 public:
  struct Options {
    std::string url;
    std::chrono::seconds refresh_every{300};
    std::chrono::seconds min_refetch{5};
    std::chrono::milliseconds timeout{5000};
    std::string name;  // the provider, for log lines
  };
  // `on_change` runs on the control thread whenever a new set is installed.
  JwksSource(Options options, std::function<void()> on_change);

  // Begins fetching on the control plane. stop() ends it (any thread).
  void start(control::ControlPlane& control);
  void stop();

  // The last good set; null until the first fetch succeeded.
  std::shared_ptr<const KeySet> keys() const { return keys_.load(std::memory_order_acquire); }

  // Runs on the control executor: fetches now unless the last fetch is younger than
  // min_refetch; joins a fetch already under way. Returns once the keys are as fresh as allowed.
  boost::asio::awaitable<void> refresh_soon();

 private:
  boost::asio::awaitable<void> refresh_loop();
  boost::asio::awaitable<void> fetch();

  Options options_;
  std::function<void()> on_change_;
  std::atomic<std::shared_ptr<const KeySet>> keys_;
  // Control thread only.
  control::ControlPlane* control_ = nullptr;
  std::unique_ptr<boost::asio::steady_timer> sleep_;       // between periodic refreshes
  std::unique_ptr<boost::asio::steady_timer> fetch_done_;  // waited on by joiners of a fetch
  bool fetching_ = false;
  std::chrono::steady_clock::time_point last_fetch_{};
  std::atomic<bool> stopped_{false};
};

}  // namespace portico::jwt
