#include "control/dns_refresher.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

namespace portico::control {
namespace {

using namespace std::chrono_literals;
using tcp = boost::asio::ip::tcp;
using boost::asio::ip::make_address;

// A server serving one snapshot with one target, localhost:8080, compiled to `address`.
class DnsRefresherTest : public ::testing::Test {
 protected:
  DnsRefresher::Hooks hooks(const char* address) {
    DnsRefresher::Target target{"localhost", 8080, "localhost:8080",
                                tcp::endpoint{make_address(address), 8080}, 100ms};
    return {[this, target] {
              return DnsRefresher::Snapshot{snapshot_, {target}};
            },
            [this] { ++recompiles_; }};
  }

  boost::asio::io_context io_;
  std::shared_ptr<int> snapshot_ = std::make_shared<int>(1);
  int recompiles_ = 0;
};

TEST_F(DnsRefresherTest, RecompilesWhenAHostnameNoLongerResolvesToItsAddress) {
  auto moved = hooks("10.255.0.1");
  moved.recompile = [this] {
    ++recompiles_;
    io_.stop();
  };
  DnsRefresher refresher(io_, moved);
  refresher.start();
  io_.run_for(5s);
  EXPECT_EQ(recompiles_, 1);
}

TEST_F(DnsRefresherTest, LeavesTheSnapshotAloneWhileItsAddressesStay) {
  DnsRefresher refresher(io_, hooks("127.0.0.1"));
  refresher.start();
  io_.run_for(350ms);
  EXPECT_EQ(recompiles_, 0);
}

TEST_F(DnsRefresherTest, DoesNotRecompileASnapshotReplacedMeanwhile) {
  auto moved = hooks("10.255.0.1");
  // Every look at the serving snapshot finds a new one, as if a reload came each time.
  auto serving = moved.serving;
  moved.serving = [this, serving] {
    snapshot_ = std::make_shared<int>(1);
    return serving();
  };
  DnsRefresher refresher(io_, moved);
  refresher.start();
  io_.run_for(350ms);
  EXPECT_EQ(recompiles_, 0);
}

TEST_F(DnsRefresherTest, EndsAtItsNextWakeUpOnceStopped) {
  DnsRefresher refresher(io_, hooks("127.0.0.1"));
  refresher.start();
  boost::asio::steady_timer drain(io_, 50ms);
  drain.async_wait([&](boost::system::error_code) { refresher.stop(); });
  auto began = std::chrono::steady_clock::now();
  io_.run_for(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);  // out of work: the loop ended
}

}  // namespace
}  // namespace portico::control
