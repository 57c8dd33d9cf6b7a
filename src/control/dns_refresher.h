// Looks the hostnames of upstream targets up again every `dns_refresh` and asks the server to
// compile the same config again when one has moved. Knows nothing of runtime snapshots: the
// server hands it the targets of the snapshot it serves and installs what the recompile makes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace portico::control {

class DnsRefresher {
 public:
  // A target as the serving snapshot compiled it. IP literals are skipped.
  struct Target {
    std::string host;
    std::uint16_t port = 0;
    std::string key;                          // "host:port", for the log
    boost::asio::ip::tcp::endpoint endpoint;  // the address in use
    std::chrono::milliseconds refresh{};      // its upstream's dns_refresh
  };
  // The targets of one snapshot; `id` tells it from the next (a reload, a recompile).
  struct Snapshot {
    std::shared_ptr<const void> id;
    std::vector<Target> targets;
  };
  struct Hooks {
    std::function<Snapshot()> serving;  // the snapshot the workers serve now
    std::function<void()> recompile;    // an address moved: compile that snapshot's config again
  };

  DnsRefresher(boost::asio::io_context& io, Hooks hooks);
  // Runs on `io`, which must be single-threaded and also run whatever replaces the snapshot,
  // so that the snapshot cannot change between a look-up and its recompile.
  void start();
  // The loop ends at its next wake-up (the server is draining).
  void stop() { stopped_ = true; }

 private:
  boost::asio::awaitable<void> run();
  // True when a hostname now resolves without the address `snapshot` uses.
  boost::asio::awaitable<bool> any_moved(const Snapshot& snapshot);

  boost::asio::io_context& io_;
  Hooks hooks_;
  bool stopped_ = false;
};

}  // namespace portico::control
