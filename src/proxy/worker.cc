#include "proxy/worker.h"

#include <unordered_set>

#include <openssl/rand.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "core/text.h"
#include "proxy/client_connection.h"

namespace portico::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::size_t buffer_size_for(const Runtime& runtime) {
  return std::max<std::size_t>(64 * 1024, runtime.limits().max_header_bytes + 16 * 1024);
}

}  // namespace

Worker::Worker(unsigned worker_count, std::shared_ptr<const Runtime> runtime,
               std::shared_ptr<observability::AccessLogWriter> access_log)
    : worker_count_(worker_count),
      runtime_(std::move(runtime)),
      access_log_writer_(std::move(access_log)),
      buffers_(buffer_size_for(*runtime_)),
      io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      sweep_timer_(io_) {
  if (access_log_writer_)
    access_log_ = std::make_unique<observability::AccessLogBuffer>(access_log_writer_);
  prng_ = upstream::Prng(random_seed());
  unsigned char random[8];
  RAND_bytes(random, sizeof random);
  core::append_hex(request_id_prefix_, random);
  rebuild_upstream_state();
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
}

void Worker::listen(const std::vector<config::Endpoint>& addresses) {
  for (const auto& address : addresses) {
    auto endpoint = tcp::endpoint(asio::ip::make_address(address.host), address.port);
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    acceptor->bind(endpoint);
    acceptor->listen(4096);
    acceptors_.emplace_back(address.text, std::move(acceptor));
  }
}

void Worker::start() {
  for (auto& [text, acceptor] : acceptors_) accept_loop(*acceptor);
  schedule_sweep();
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::accept_loop(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    // server.limits.max_connections is per process; each worker admits its share. Beyond it
    // a new connection is closed at once rather than queued behind a full process.
    auto limit = std::max<std::uint64_t>(1, runtime_->limits().max_connections / worker_count_);
    if (!ec && connection_count_.load(std::memory_order_relaxed) >= limit) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (!ec && !draining_) {
      auto connection = std::make_shared<ClientConnection>(*this, std::move(socket));
      // run() itself is spawned (no wrapping coroutine: one frame less per connection); the
      // completion handler keeps the connection alive until it returns.
      asio::co_spawn(io_, connection->run(), [connection](const std::exception_ptr&) {});
    }
    accept_loop(acceptor);
  });
}

void Worker::schedule_sweep() {
  sweep_timer_.expires_after(net::DeadlineList::sweep_interval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    auto now = net::Clock::now();
    deadlines_.sweep(now);
    // Every second: close pooled upstream connections idle past their upstream's timeout.
    if (++sweeps_ % 20 == 0) {
      for (auto& [key, pool] : pools_) pool->sweep(now);
      buffers_.trim();
      drop_unused_upstream_state();
    }
    if (access_log_ && sweeps_ % 4 == 0) access_log_->flush();
    schedule_sweep();
  });
}

Worker::UpstreamGeneration& Worker::generation_of(upstream::UpstreamSlot slot) {
  auto is_of = [slot](const UpstreamGeneration& g) {
    return slot.index < g.identities.size() && g.identities[slot.index] == slot.identity;
  };
  if (is_of(upstreams_)) [[likely]]
    return upstreams_;
  for (auto& g : retired_upstreams_)
    if (is_of(g)) return g;
  // The request holds its snapshot, and its generation is retired only once nothing else does.
  throw std::logic_error("an upstream of a snapshot this worker never had");
}

upstream::ConnectionPool& Worker::pool(upstream::UpstreamSlot upstream, std::size_t target) {
  return *generation_of(upstream).pools[upstream.index][target];
}

std::size_t Worker::pick_target(upstream::UpstreamSlot upstream, std::uint64_t key_hash,
                                std::size_t avoid) {
  return generation_of(upstream).balancers[upstream.index]->pick(key_hash, avoid,
                                                                 upstream::Clock::now());
}

void Worker::new_request_id(std::string& out) {
  constexpr const auto& hex = core::hex_digits;
  out.assign(request_id_prefix_);
  auto n = ++request_counter_;
  char digits[16];
  for (int i = 15; i >= 0; --i, n >>= 4) digits[i] = hex[n & 15];
  out.append(digits, 16);
}

std::uint64_t Worker::random_seed() {
  std::uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1)
    seed = ++request_counter_;
  return seed;
}

void Worker::rebuild_upstream_state() {
  // Pools are keyed by target address and outlive config versions, so a reload that keeps a
  // target keeps its warm connections.
  if (!upstreams_.identities.empty() && upstreams_.runtime.lock() != runtime_)
    retired_upstreams_.push_back(std::move(upstreams_));
  upstreams_ = {.runtime = runtime_, .identities = {}, .pools = {}, .balancers = {}};
  drop_unused_upstream_state();
  for (const auto& upstream : runtime_->upstreams) {
    upstreams_.identities.push_back(&upstream);
    std::vector<upstream::ConnectionPool*> pools;
    // max_connections is per process: each worker gets its share (at least one).
    auto share = std::max<std::uint64_t>(1, upstream.max_connections / std::max(1u, worker_count_));
    for (const auto& target : upstream.targets) {
      auto& pool = pools_[target.pool_key];
      if (!pool)
        pool = std::make_unique<upstream::ConnectionPool>(target.pool_key, share);
      else
        pool->set_max_connections(share);
      pool->set_idle_timeout(upstream.timeouts.idle);
      pools.push_back(pool.get());
    }
    upstreams_.pools.push_back(std::move(pools));
    upstreams_.balancers.push_back(
        upstream::make_balancer(*upstream.config, upstream.state, upstream.maglev, random_seed()));
  }
  buffers_.set_buffer_size(buffer_size_for(*runtime_));
}

void Worker::drop_unused_upstream_state() {
  std::erase_if(retired_upstreams_,
                [](const UpstreamGeneration& g) { return g.runtime.expired(); });
  std::unordered_set<const upstream::ConnectionPool*> in_use;
  auto note = [&](const UpstreamGeneration& g) {
    for (const auto& targets : g.pools) in_use.insert(targets.begin(), targets.end());
  };
  note(upstreams_);
  for (const auto& g : retired_upstreams_) note(g);
  std::erase_if(pools_, [&](const auto& entry) {
    return !in_use.contains(entry.second.get()) && entry.second->unused();
  });
}

void Worker::sync_listeners(const std::vector<config::Endpoint>& addresses) {
  // Close listeners the new config dropped; open the ones it added.
  for (auto it = acceptors_.begin(); it != acceptors_.end();) {
    bool keep = std::any_of(addresses.begin(), addresses.end(),
                            [&](const config::Endpoint& e) { return e.text == it->first; });
    if (keep) {
      ++it;
      continue;
    }
    boost::system::error_code ignored;
    it->second->close(ignored);
    // The acceptor's pending handler still references it: release it on a later turn.
    asio::post(io_, [acceptor = std::shared_ptr<tcp::acceptor>(std::move(it->second))] {});
    it = acceptors_.erase(it);
  }
  for (const auto& address : addresses) {
    bool have = std::any_of(acceptors_.begin(), acceptors_.end(),
                            [&](const auto& a) { return a.first == address.text; });
    if (have) continue;
    try {
      auto before = acceptors_.size();
      listen({address});
      if (acceptors_.size() > before) accept_loop(*acceptors_.back().second);
    } catch (const std::exception&) {
      // Reported by the gateway, which tried the bind before accepting the reload.
    }
  }
}

void Worker::swap_runtime(std::shared_ptr<const Runtime> runtime,
                          std::shared_ptr<observability::AccessLogWriter> access_log) {
  asio::post(io_, [this, runtime = std::move(runtime), access_log = std::move(access_log)] {
    runtime_ = runtime;
    if (access_log != access_log_writer_) {
      if (access_log_) access_log_->flush();
      access_log_writer_ = access_log;
      access_log_ = access_log_writer_
                        ? std::make_unique<observability::AccessLogBuffer>(access_log_writer_)
                        : nullptr;
    }
    rebuild_upstream_state();
    if (!draining_) sync_listeners(runtime_->config->server.listen);
  });
}

void Worker::begin_drain() {
  asio::post(io_, [this] {
    draining_ = true;
    for (auto& [text, acceptor] : acceptors_) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
    for (auto& connection : connections_) connection.close_if_idle();
  });
}

void Worker::close_upgraded() {
  asio::post(io_, [this] {
    for (auto& connection : connections_) connection.close_if_upgraded();
  });
}

void Worker::stop() {
  asio::post(io_, [this] {
    if (access_log_) access_log_->flush();
    redis_clients_.close();
    io_.stop();
  });
}

observability::MetricsShard Worker::snapshot_metrics() {
  // The promise is shared so a worker that answers after the caller gave up writes to a live
  // object.
  auto promise = std::make_shared<std::promise<observability::MetricsShard>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] { promise->set_value(metrics_); });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
  return future.get();
}

std::vector<std::pair<std::string, std::uint64_t>> Worker::pool_counts() {
  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  auto promise = std::make_shared<std::promise<Counts>>();
  auto future = promise->get_future();
  asio::post(io_, [this, promise] {
    Counts counts;
    for (const auto& [key, pool] : pools_) counts.emplace_back(key, pool->open_count());
    promise->set_value(std::move(counts));
  });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
  return future.get();
}

void Worker::add_connection(ClientConnection& c) {
  connections_.push_back(c);
  ++connection_count_;
}

void Worker::remove_connection() {
  --connection_count_;
}

}  // namespace portico::proxy
