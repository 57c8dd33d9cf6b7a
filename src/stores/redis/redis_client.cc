#include "stores/redis/redis_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <stdexcept>
#include <unordered_map>

#include "net/tls_client.h"
#include "stores/redis/cluster_slots.h"
#include "stores/redis/key_slot.h"
#include "stores/redis/redis_command.h"
#include "stores/redis/redis_connection.h"

namespace portico::stores::redis {

namespace asio = boost::asio;

namespace {

// A slot map fetched less than this long ago is not fetched again for the next MOVED: a
// resharding answers MOVED for many slots in a row, and each one patches the map by itself.
constexpr std::chrono::milliseconds min_refresh_interval{100};

RedisEndpoint parse_or_throw(const std::string& text) {
  RedisEndpoint endpoint;
  if (auto error = parse_endpoint(text, endpoint); !error.empty())
    throw std::invalid_argument(error + ": " + text);
  return endpoint;
}

}  // namespace

struct RedisClient::State {
  asio::any_io_executor executor;
  std::chrono::milliseconds timeout;
  RedisEndpoint login;  // tls, user, password and db, shared by every node
  std::vector<NodeAddress> seeds;
  bool cluster = false;
  std::shared_ptr<asio::ssl::context> tls;
  std::unordered_map<std::string, std::shared_ptr<RedisConnection>> nodes;  // by "host:port"
  std::shared_ptr<RedisConnection> single;  // nodes' one entry, when not a cluster
  ClusterSlots slots;
  bool refreshing = false;
  Clock::time_point refreshed_at{};
  bool closed = false;

  std::shared_ptr<RedisConnection> node(const NodeAddress& address) {
    RedisEndpoint endpoint;
    endpoint.host = address.host;
    endpoint.port = address.port;
    auto& connection = nodes[endpoint.address()];
    if (!connection) {
      endpoint = login;
      endpoint.host = address.host;
      endpoint.port = address.port;
      connection = std::make_shared<RedisConnection>(executor, std::move(endpoint), tls);
    }
    return connection;
  }

  std::shared_ptr<RedisConnection> route(int slot) {
    if (!cluster) return single;
    if (const NodeAddress* address = slots.node_of(slot)) return node(*address);
    return node(seeds.front());
  }

  static void refresh(const std::shared_ptr<State>& self);
  static asio::awaitable<void> fetch_slots(std::shared_ptr<State> self);
  static asio::awaitable<CallResult> send(std::shared_ptr<State> self, const std::string& command,
                                          int slot);
};

RedisClient::RedisClient(asio::io_context& io, RedisOptions options)
    : state_(std::make_shared<State>()) {
  State& state = *state_;
  state.executor = io.get_executor();
  state.timeout = options.timeout;
  if (!options.url.empty() && !options.cluster.empty())
    throw std::invalid_argument("redis: set url or cluster, not both");
  if (options.cluster.empty()) {
    state.login = parse_or_throw(options.url);
    state.seeds.push_back({state.login.host, state.login.port});
  } else {
    state.cluster = true;
    for (const auto& seed : options.cluster) {
      RedisEndpoint endpoint = parse_or_throw(seed);
      if (state.seeds.empty()) state.login = endpoint;
      if (endpoint.db != 0)
        throw std::invalid_argument("redis cluster has database 0 only: " + seed);
      state.seeds.push_back({endpoint.host, endpoint.port});
    }
  }
  if (!options.password.empty()) state.login.password = options.password;
  if (state.login.tls) {
    net::TlsClientOptions tls;
    tls.ca_file = options.tls_ca_file;
    state.tls = net::make_tls_client_context(tls);
    // The shared client context offers ALPN http/1.1, which is no protocol of Redis's.
    SSL_CTX_set_alpn_protos(state.tls->native_handle(), nullptr, 0);
  }
  if (!state.cluster) state.single = state.node(state.seeds.front());
}

RedisClient::~RedisClient() {
  close();
}

asio::awaitable<CallResult> RedisClient::call(std::vector<std::string> argv,
                                              std::size_t key_index) {
  auto state = state_;
  std::string command;
  append_command(command, argv);
  int slot = key_index < argv.size() ? key_slot(argv[key_index]) : -1;
  co_return co_await State::send(std::move(state), command, slot);
}

asio::awaitable<CallResult> RedisClient::eval(const RedisScript& script,
                                              std::vector<std::string> keys,
                                              std::vector<std::string> args) {
  auto state = state_;
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  int slot = keys.empty() ? -1 : key_slot(keys.front());
  for (auto& key : keys) argv.push_back(std::move(key));
  for (auto& arg : args) argv.push_back(std::move(arg));
  std::string command;
  append_command(command, argv);
  CallResult result = co_await State::send(state, command, slot);
  // A server that restarted, failed over or had SCRIPT FLUSH forgets scripts.
  if (!result.ok() || !result.reply.is_error("NOSCRIPT")) co_return result;
  argv[0] = "EVAL";
  argv[1] = script.lua();
  command.clear();
  append_command(command, argv);
  co_return co_await State::send(std::move(state), command, slot);
}

asio::awaitable<CallResult> RedisClient::State::send(std::shared_ptr<State> self,
                                                     const std::string& command, int slot) {
  if (self->closed) co_return CallResult{CallError::Connection, {}};
  auto deadline = Clock::now() + self->timeout;
  if (!self->cluster) {
    auto connection = self->route(slot);
    co_return co_await connection->call(command, deadline);
  }

  if (self->slots.empty()) refresh(self);
  auto connection = self->route(slot);
  std::string asking;  // ASKING then the command, for the node a slot is migrating to
  for (int redirects = 0;; ++redirects) {
    // Not a conditional expression with a co_await in each branch: GCC 12 destroys the
    // result of such an expression twice.
    CallResult result;
    if (asking.empty()) {
      result = co_await connection->call(command, deadline);
    } else {
      result = co_await connection->call(asking, deadline, 1);
    }
    if (self->closed) co_return CallResult{CallError::Connection, {}};
    // A node that cannot be reached may have been replaced by a failover.
    if (result.error == CallError::Connection) refresh(self);
    Redirect redirect = parse_redirect(result.reply);
    if (!result.ok() || redirect.kind == Redirect::Kind::None || redirects == max_redirects)
      co_return result;
    if (redirect.kind == Redirect::Kind::Moved) {
      self->slots.set(redirect.slot, redirect.node);
      refresh(self);
      asking.clear();
    } else {
      // ASK moves one command, not the slot: the map stays as it is.
      asking.clear();
      append_command(asking, {"ASKING"});
      asking += command;
    }
    connection = self->node(redirect.node);
  }
}

void RedisClient::State::refresh(const std::shared_ptr<State>& self) {
  auto now = Clock::now();
  if (self->refreshing || self->closed) return;
  if (!self->slots.empty() && now - self->refreshed_at < min_refresh_interval) return;
  self->refreshing = true;
  self->refreshed_at = now;
  asio::co_spawn(self->executor, fetch_slots(self), asio::detached);
}

asio::awaitable<void> RedisClient::State::fetch_slots(std::shared_ptr<State> self) {
  std::string command;
  append_command(command, {"CLUSTER", "SLOTS"});
  // The nodes of the current map first (they are connected already), then the seeds.
  std::vector<NodeAddress> candidates = self->slots.nodes();
  for (const auto& seed : self->seeds)
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end())
      candidates.push_back(seed);
  for (const auto& address : candidates) {
    auto connection = self->node(address);
    CallResult result = co_await connection->call(command, Clock::now() + self->timeout);
    if (self->closed) break;
    if (result.ok() && self->slots.assign(result.reply, address.host)) break;
  }
  self->refreshing = false;
}

bool RedisClient::connected() const {
  for (const auto& [address, connection] : state_->nodes)
    if (connection->connected()) return true;
  return false;
}

void RedisClient::close() {
  state_->closed = true;
  for (auto& [address, connection] : state_->nodes) connection->close();
}

}  // namespace portico::stores::redis
