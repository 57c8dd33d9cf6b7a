#include "control/health_checker.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <optional>

#include "control/http_client.h"
#include "control/socket_timeout.h"

namespace portico::control {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string url_of(const tcp::endpoint& endpoint, const std::string& path) {
  auto address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return "http://" + address + ":" + std::to_string(endpoint.port()) + path;
}

// One target's probe loop state; the loop and stop() touch the socket and timer, both on the
// executor's thread.
struct TargetState {
  HealthTarget target;
  HttpRequest request;  // of http checks
  std::atomic<bool> healthy{true};
  int successes = 0;  // in a row, capped at healthy_after
  int failures = 0;   // in a row, capped at unhealthy_after
  std::optional<tcp::socket> socket;
  std::optional<asio::steady_timer> pause;
};

}  // namespace

struct HealthChecker::State {
  config::HealthCheckConfig config;
  Callback on_change;
  std::vector<std::unique_ptr<TargetState>> targets;
  std::atomic<bool> stopping{false};
  // Held while calling back, so that stop() returns only once no callback can follow;
  // recursive so that the callback itself may call stop().
  std::recursive_mutex mutex;
  bool started = false;
  bool stopped = false;
  asio::any_io_executor executor;

  static asio::awaitable<void> run(std::shared_ptr<State> self, std::size_t index);
  asio::awaitable<bool> probe(TargetState& target);
  void record(std::size_t index, bool ok);
};

asio::awaitable<void> HealthChecker::State::run(std::shared_ptr<State> self, std::size_t index) {
  auto& target = *self->targets[index];
  auto executor = co_await asio::this_coro::executor;
  target.socket.emplace(executor);
  target.pause.emplace(executor);
  auto interval = std::max<Clock::duration>(self->config.interval, 1ms);
  // Spread the first probes over (at most) a second, so that targets are not probed in bursts.
  auto spread = std::min<Clock::duration>(interval, 1s);
  auto count = static_cast<Clock::rep>(self->targets.size());
  auto next = Clock::now() + spread * static_cast<Clock::rep>(index) / count;
  while (!self->stopping) {
    target.pause->expires_at(next);
    co_await target.pause->async_wait(use_tuple);
    if (self->stopping) break;
    auto started = Clock::now();
    bool ok = false;
    try {
      ok = co_await self->probe(target);
    } catch (const std::exception&) {
      ok = false;  // out of memory or descriptors: a failed probe, not the end of the loop
    }
    if (self->stopping) break;
    self->record(index, ok);
    next = started + interval;  // a probe slower than the interval is followed at once
  }
}

asio::awaitable<bool> HealthChecker::State::probe(TargetState& target) {
  if (config.type == "tcp") {
    boost::system::error_code ignored;
    target.socket->close(ignored);
    SocketTimeout timeout{*target.socket, Clock::now() + config.timeout};
    auto [ec] = co_await target.socket->async_connect(target.target.endpoint, use_tuple);
    target.socket->close(ignored);
    co_return !ec;
  }
  auto result = co_await fetch_from(*target.socket, target.target.endpoint, target.request,
                                    target.target.tls);
  co_return result.ok() && result.status >= 200 && result.status < 400;
}

void HealthChecker::State::record(std::size_t index, bool ok) {
  auto& target = *targets[index];
  bool was_healthy = target.healthy.load();
  if (ok) {
    target.failures = 0;
    target.successes = std::min(target.successes + 1, config.healthy_after);
    if (was_healthy || target.successes < config.healthy_after) return;
  } else {
    target.successes = 0;
    target.failures = std::min(target.failures + 1, config.unhealthy_after);
    if (!was_healthy || target.failures < config.unhealthy_after) return;
  }
  std::lock_guard lock{mutex};
  if (stopped) return;
  target.healthy = ok;
  if (on_change) on_change(index, ok);
}

HealthChecker::HealthChecker(config::HealthCheckConfig config, std::vector<HealthTarget> targets,
                             Callback on_change)
    : state_(std::make_shared<State>()) {
  config.healthy_after = std::max(config.healthy_after, 1);
  config.unhealthy_after = std::max(config.unhealthy_after, 1);
  state_->config = std::move(config);
  state_->on_change = std::move(on_change);
  for (auto& target : targets) {
    auto entry = std::make_unique<TargetState>();
    entry->request.url = url_of(target.endpoint, state_->config.path);
    if (!target.host_header.empty())
      entry->request.headers.emplace_back("Host", target.host_header);
    entry->request.timeout = state_->config.timeout;
    entry->target = std::move(target);
    state_->targets.push_back(std::move(entry));
  }
}

HealthChecker::~HealthChecker() {
  stop();
}

void HealthChecker::start(asio::any_io_executor executor) {
  std::lock_guard lock{state_->mutex};
  if (state_->started || state_->stopped) return;
  state_->started = true;
  state_->executor = executor;
  for (std::size_t i = 0; i < state_->targets.size(); ++i)
    asio::co_spawn(executor, State::run(state_, i), asio::detached);
}

void HealthChecker::stop() {
  auto state = state_;
  std::lock_guard lock{state->mutex};
  if (state->stopped) return;
  state->stopped = true;
  state->stopping = true;
  if (!state->started) return;
  // A loop waiting on its timer or on a probe wakes now and sees `stopping`.
  asio::post(state->executor, [state] {
    for (auto& target : state->targets) {
      boost::system::error_code ignored;
      if (target->socket) target->socket->close(ignored);
      if (target->pause) target->pause->cancel();
    }
  });
}

bool HealthChecker::healthy(std::size_t target_index) const {
  return state_->targets.at(target_index)->healthy.load();
}

std::size_t HealthChecker::size() const {
  return state_->targets.size();
}

}  // namespace portico::control
