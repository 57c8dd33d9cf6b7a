// One event-loop thread: its io_context, its SO_REUSEPORT acceptors, its connections, upstream
// pools, buffers, metrics shard and access-log buffer. Nothing here is touched by another
// thread except through post() (reload, scrape, drain).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http1/server_connection.h"
#include "net/buffer_pool.h"
#include "net/deadline.h"
#include "observability/access_log.h"
#include "observability/metrics.h"
#include "proxy/runtime.h"
#include "proxy/session.h"
#include "stores/redis/redis_clients.h"
#include "upstream/balancer.h"
#include "upstream/connection_pool.h"
#include "upstream/prng.h"
#include "upstream/target_pools.h"

namespace portico::proxy {

class ClientConnection;
using ConnectionHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class Worker final : public upstream::TargetPools,
                     public http1::ServerEnvironment,
                     public SessionEnvironment {
 public:
  Worker(unsigned worker_count, std::shared_ptr<const Runtime> runtime,
         std::shared_ptr<observability::AccessLogWriter> access_log);
  ~Worker();

  // Opens an SO_REUSEPORT acceptor for each address (before start(); throws on bind failure).
  void listen(const std::vector<config::Endpoint>& addresses);
  void start();  // runs the loop on its own thread
  void join();

  // --- called on this worker's thread only ---
  boost::asio::io_context& io() override { return io_; }
  const std::shared_ptr<const Runtime>& runtime() const override { return runtime_; }
  const config::Limits& limits() const override { return runtime_->limits(); }
  const config::Http2Config& http2() const override { return runtime_->config->server.http2; }
  net::BufferPool& buffers() override { return buffers_; }
  net::DeadlineList& deadlines() override { return deadlines_; }
  observability::MetricsShard& metrics() override { return metrics_; }
  observability::AccessLogBuffer* access_log() override { return access_log_.get(); }
  WorkerServices& services() override { return services_; }
  upstream::ConnectionPool& pool(upstream::UpstreamSlot upstream, std::size_t target) override;
  // The target for an attempt on `upstream` (see upstream::Balancer::pick).
  std::size_t pick_target(upstream::UpstreamSlot upstream, std::uint64_t key_hash,
                          std::size_t avoid) override;
  // Appends a new unique request id to `out`.
  void new_request_id(std::string& out) override;
  bool draining() const override { return draining_; }
  upstream::Prng& prng() { return prng_; }

  // --- callable from any thread (posted to this worker) ---
  void swap_runtime(std::shared_ptr<const Runtime> runtime,
                    std::shared_ptr<observability::AccessLogWriter> access_log);
  void begin_drain();  // stop accepting; close idle connections; finish in-flight ones
  // The end of a drain: upgraded (WebSocket) connections are closed, and logged.
  void close_upgraded();
  void stop();
  // Copies this worker's metrics shard (blocks the caller until the worker has done it).
  observability::MetricsShard snapshot_metrics();
  std::size_t connection_count() const { return connection_count_.load(); }
  // Per target: idle and open pooled connections (for /admin/upstreams).
  std::vector<std::pair<std::string, std::uint64_t>> pool_counts();

  // Connections register themselves so drain can find the idle ones.
  void add_connection(ClientConnection& c);
  void remove_connection();

 private:
  void accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  void schedule_sweep();
  // This worker's pools and balancers for one config snapshot's upstreams, by index.
  struct UpstreamGeneration {
    // Whether its snapshot still lives (a request anywhere may hold it); not owning it, so
    // that the workers' generations do not keep each other's snapshots alive.
    std::weak_ptr<const Runtime> runtime;
    std::vector<const void*> identities;                         // [upstream]: UpstreamSlot
    std::vector<std::vector<upstream::ConnectionPool*>> pools;   // [upstream][target]
    std::vector<std::unique_ptr<upstream::Balancer>> balancers;  // [upstream]
  };
  void rebuild_upstream_state();
  UpstreamGeneration& generation_of(upstream::UpstreamSlot slot);
  // Drops the generations whose snapshot is gone, then the pools none of the rest uses.
  void drop_unused_upstream_state();
  std::uint64_t random_seed();
  void sync_listeners(const std::vector<config::Endpoint>& addresses);

  // Declaration order is destruction order, reversed: connections still suspended when the
  // loop stops are destroyed with io_, and they touch the buffers, deadlines, metrics and
  // connection list on the way out, so those are declared before io_. Sockets (acceptors,
  // pools) are declared after it, so they close while it still runs.
  unsigned worker_count_;
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<observability::AccessLogWriter> access_log_writer_;
  std::unique_ptr<observability::AccessLogBuffer> access_log_;
  net::BufferPool buffers_;
  net::DeadlineList deadlines_;
  observability::MetricsShard metrics_;
  boost::intrusive::list<ClientConnection, boost::intrusive::base_hook<ConnectionHook>,
                         boost::intrusive::constant_time_size<false>>
      connections_;
  std::atomic<std::size_t> connection_count_{0};
  std::string request_id_prefix_;
  std::uint64_t request_counter_ = 0;
  unsigned sweeps_ = 0;
  upstream::Prng prng_{0};
  bool draining_ = false;

  boost::asio::io_context io_;
  stores::redis::RedisClients redis_clients_{io_};
  WorkerServices services_{io_, metrics_, prng_, deadlines_, buffers_, *this, &redis_clients_};
  boost::asio::steady_timer sweep_timer_;
  std::vector<std::pair<std::string, std::unique_ptr<boost::asio::ip::tcp::acceptor>>> acceptors_;
  std::unordered_map<std::string, std::unique_ptr<upstream::ConnectionPool>> pools_;
  UpstreamGeneration upstreams_;
  // Generations of snapshots that requests begun before a reload may still use; each is
  // dropped once its snapshot is gone (and a pool once no generation has it and it is empty).
  std::vector<UpstreamGeneration> retired_upstreams_;
  std::thread thread_;
};

}  // namespace portico::proxy
