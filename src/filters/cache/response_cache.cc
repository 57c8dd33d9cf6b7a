#include "filters/cache/response_cache.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <set>

#include "stores/redis/redis_clients.h"

namespace portico::filters::cache {

namespace asio = boost::asio;
using stores::redis::RedisReply;

namespace {

// Every key shares one hash tag, so in a Redis Cluster a purge's SCAN finds them all on one
// node; the path comes first so that a purge by prefix is a SCAN MATCH.
constexpr std::string_view kKeyPrefix = "portico:cache:{c}:";
constexpr char kVarySeparator = '\x1e';  // between a key and the values of its Vary names

std::string glob_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct ResponseCache::AdminClient {
  asio::io_context* io = nullptr;
  std::unique_ptr<stores::redis::RedisClients> clients;
};

ResponseCache::ResponseCache(const CacheConfig& config) : config_(config) {
  if (config_.store != "redis")
    memory_ = std::make_unique<MemoryCacheStore>(config_.max_size, config_.max_object_size);
}

ResponseCache::~ResponseCache() {
  // The purge's client lives on the admin's loop, and the last owner of the cache may be a
  // worker (an old snapshot released there): it is closed and freed on its own loop.
  if (admin_ && admin_->clients) {
    asio::post(*admin_->io, [clients = std::shared_ptr<stores::redis::RedisClients>(
                                 std::move(admin_->clients))] { clients->close(); });
  }
}

std::string ResponseCache::redis_key(std::string_view key) {
  std::string out(kKeyPrefix);
  out.append(key);
  return out;
}

asio::awaitable<AnswerPtr> ResponseCache::redis_find(stores::redis::RedisClients& clients,
                                                     std::string_view key) {
  auto* client = clients.client_for(*config_.redis);
  if (!client) co_return nullptr;
  std::vector<std::string> argv;
  argv.emplace_back("GET");
  argv.push_back(redis_key(key));
  auto result = co_await client->call(std::move(argv));
  if (!result.ok() || result.reply.type != RedisReply::Type::String) co_return nullptr;
  auto answer = deserialize(result.reply.text);
  if (!answer) co_return nullptr;
  co_return std::make_shared<const CachedAnswer>(std::move(*answer));
}

void ResponseCache::redis_put(asio::io_context& io, stores::redis::RedisClients& clients,
                              std::string_view key, const CachedAnswer& answer,
                              std::function<void()> done) {
  auto* client = clients.client_for(*config_.redis);
  auto keep_ms = answer.keep_until_ms() - now_ms();
  if (!client || keep_ms <= 0) {
    if (done) done();
    return;
  }
  std::vector<std::string> argv;
  argv.emplace_back("SET");
  argv.push_back(redis_key(key));
  argv.push_back(serialize(answer));
  argv.emplace_back("PX");
  argv.push_back(std::to_string(keep_ms));
  // The client lives as long as the worker; a call still in flight at shutdown just fails.
  asio::co_spawn(
      io,
      [client, argv = std::move(argv), done = std::move(done)]() mutable -> asio::awaitable<void> {
        co_await client->call(std::move(argv));
        if (done) done();
      },
      asio::detached);
}

asio::awaitable<std::size_t> ResponseCache::purge(asio::io_context& io, std::string prefix) {
  if (memory_) {
    co_return memory_->erase_if(
        [&](const CachedAnswer& answer) { return answer.path.starts_with(prefix); });
  }
  if (!admin_) admin_ = std::make_unique<AdminClient>();
  if (admin_->io != &io) {
    admin_->io = &io;
    admin_->clients = std::make_unique<stores::redis::RedisClients>(io);
  }
  auto* client = admin_->clients->client_for(*config_.redis);
  if (!client) co_return 0;
  std::string pattern = std::string(kKeyPrefix) + glob_escaped(prefix) + "*";
  // Keys without a Vary separator are answers, or the marker of answers that vary; a marker
  // is not counted as an entry of its own.
  std::set<std::string> plain;
  std::set<std::string> varied_bases;
  std::size_t varied = 0;
  std::string cursor = "0";
  for (int round = 0; round < 100000; ++round) {
    std::vector<std::string> scan = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    auto result = co_await client->call(std::move(scan), 3);
    if (!result.ok() || result.reply.type != RedisReply::Type::Array ||
        result.reply.elements.size() != 2)
      break;
    cursor = result.reply.elements[0].text;
    std::vector<std::string> unlink = {"UNLINK"};
    for (const auto& key : result.reply.elements[1].elements) {
      auto at = key.text.find(kVarySeparator);
      if (at == std::string::npos)
        plain.insert(key.text);
      else
        varied_bases.insert(key.text.substr(0, at)), ++varied;
      unlink.push_back(key.text);
    }
    if (unlink.size() > 1) co_await client->call(std::move(unlink));
    if (cursor == "0") break;
  }
  std::size_t purged = varied;
  for (const auto& key : plain)
    if (!varied_bases.contains(key)) ++purged;
  co_return purged;
}

void ResponseCache::drop_route(std::string_view route_tag) {
  if (memory_)
    memory_->erase_if([&](const CachedAnswer& answer) { return answer.route_tag == route_tag; });
}

std::shared_ptr<ResponseCache> build_response_cache(
    const std::optional<CacheConfig>& config, const std::shared_ptr<ResponseCache>& previous) {
  if (!config) return nullptr;
  if (previous && previous->config() == *config) return previous;
  return std::make_shared<ResponseCache>(*config);
}

}  // namespace portico::filters::cache
