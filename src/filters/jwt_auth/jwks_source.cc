#include "filters/jwt_auth/jwks_source.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "control/http_client.h"
#include "core/log.h"

namespace portico::jwt {

namespace asio = boost::asio;

JwksSource::JwksSource(Options options, std::function<void()> on_change)
    : options_(std::move(options)), on_change_(std::move(on_change)) {}

void JwksSource::start(control::ControlPlane& control) {
  control_ = &control;
  auto self = shared_from_this();
  asio::post(control.executor(), [self] {
    self->sleep_ = std::make_unique<asio::steady_timer>(self->control_->executor());
    self->fetch_done_ = std::make_unique<asio::steady_timer>(self->control_->executor());
    asio::co_spawn(self->control_->executor(), self->refresh_loop(), asio::detached);
  });
}

void JwksSource::stop() {
  stopped_ = true;
  if (!control_) return;
  asio::post(control_->executor(), [self = shared_from_this()] {
    if (self->sleep_) self->sleep_->cancel();
  });
}

asio::awaitable<void> JwksSource::refresh_loop() {
  auto self = shared_from_this();  // the loop keeps the source alive until it sees stopped_
  while (!stopped_) {
    co_await fetch();
    // Until a first set arrives, try again soon; then at the refresh interval.
    auto wait = keys()
                    ? std::chrono::duration_cast<std::chrono::milliseconds>(options_.refresh_every)
                    : std::chrono::milliseconds(2000);
    sleep_->expires_after(wait);
    co_await sleep_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> JwksSource::refresh_soon() {
  auto self = shared_from_this();
  if (stopped_) co_return;
  if (fetching_) {
    // Join the fetch under way: it cancels fetch_done_ when it ends.
    co_await fetch_done_->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  if (std::chrono::steady_clock::now() - last_fetch_ < options_.min_refetch) co_return;
  co_await fetch();
}

asio::awaitable<void> JwksSource::fetch() {
  fetching_ = true;
  fetch_done_->expires_at(std::chrono::steady_clock::time_point::max());
  last_fetch_ = std::chrono::steady_clock::now();
  control::HttpClient client;
  control::HttpRequest request;
  request.url = options_.url;
  request.timeout = options_.timeout;
  request.headers.emplace_back("Accept", "application/json");
  auto result = co_await client.fetch(std::move(request));
  if (!result.ok()) {
    core::log_warn("auth " + options_.name + ": JWKS fetch from " + options_.url +
                   " failed: " + result.error + "; keeping the last good keys");
  } else if (result.status != 200) {
    core::log_warn("auth " + options_.name + ": JWKS fetch from " + options_.url + " answered " +
                   std::to_string(result.status) + "; keeping the last good keys");
  } else if (auto parsed = KeySet::from_jwks(result.body); !parsed.key_set) {
    core::log_warn("auth " + options_.name + ": JWKS from " + options_.url +
                   " does not parse: " + parsed.error + "; keeping the last good keys");
  } else {
    keys_.store(std::make_shared<const KeySet>(std::move(*parsed.key_set)),
                std::memory_order_release);
    if (on_change_) on_change_();
  }
  fetching_ = false;
  fetch_done_->cancel();
}

}  // namespace portico::jwt
