// The client against a real three-master Redis Cluster (testing/redis_processes.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

#include "stores/redis/key_slot.h"
#include "stores/redis/redis_client.h"
#include "stores/redis/testing/redis_processes.h"

namespace portico::stores::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RedisCluster;
using Type = RedisReply::Type;
using SteadyClock = std::chrono::steady_clock;

template <class T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    out = std::move(value);
  });
  io.restart();
  auto until = SteadyClock::now() + 20s;
  while (!out && SteadyClock::now() < until) io.run_one_for(100ms);
  if (error) std::rethrow_exception(error);
  if (!out) throw std::runtime_error("the task did not finish");
  return std::move(*out);
}

CallResult call(asio::io_context& io, RedisClient& client, std::vector<std::string> argv) {
  return run(io, client.call(std::move(argv)));
}

// A key for each node, found by asking the cluster who serves its slot.
std::vector<std::string> key_per_node(RedisCluster& cluster, const std::string& prefix) {
  std::vector<std::string> keys(cluster.size());
  for (int i = 0; keys.end() != std::find(keys.begin(), keys.end(), std::string{}); ++i) {
    std::string key = prefix + std::to_string(i);
    auto& slot_key = keys[cluster.owner_of(key_slot(key))];
    if (slot_key.empty()) slot_key = key;
  }
  return keys;
}

RedisOptions cluster_options(std::vector<std::string> seeds) {
  RedisOptions out;
  out.cluster = std::move(seeds);
  out.timeout = std::chrono::milliseconds{1000};
  return out;
}

class RedisClusterTest : public ::testing::Test {
 protected:
  RedisCluster cluster;
  asio::io_context io;
};

TEST_F(RedisClusterTest, HashesKeysAsTheClusterDoes) {
  for (std::string key : {"foo", "bar", "{user1}.a", "rate:10.0.0.1", "x{}y"})
    EXPECT_EQ(std::to_string(key_slot(key)), cluster.node(0).cli({"CLUSTER", "KEYSLOT", key}));
}

TEST_F(RedisClusterTest, ReadsAndWritesKeysOnEveryNode) {
  RedisClient client{io, cluster_options(cluster.seeds())};
  for (int i = 0; i < 100; ++i) {
    auto set = call(io, client, {"SET", "key" + std::to_string(i), std::to_string(i)});
    ASSERT_TRUE(set.ok()) << to_string(set.error);
    ASSERT_EQ(set.reply.text, "OK") << set.reply.text;
  }
  for (int n = 0; n < cluster.size(); ++n) EXPECT_NE(cluster.node(n).cli({"DBSIZE"}), "0");
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(call(io, client, {"GET", "key" + std::to_string(i)}).reply.text, std::to_string(i));
}

TEST_F(RedisClusterTest, RoutesEveryKeyFromASingleSeed) {
  auto keys = key_per_node(cluster, "seeded");
  RedisClient client{io, cluster_options({cluster.node(0).address()})};
  for (int n = 0; n < cluster.size(); ++n) {
    auto set = call(io, client, {"SET", keys[n], "on node " + std::to_string(n)});
    ASSERT_EQ(set.reply.text, "OK") << set.reply.text;
    // Written where the cluster keeps it.
    EXPECT_EQ(cluster.node(n).cli({"GET", keys[n]}), "on node " + std::to_string(n));
  }
  EXPECT_TRUE(client.connected());
}

TEST_F(RedisClusterTest, FollowsMovedOnceASlotHasMigrated) {
  RedisClient client{io, cluster_options(cluster.seeds())};
  const std::string key = "migrating-key";
  int slot = key_slot(key);
  ASSERT_EQ(call(io, client, {"SET", key, "before"}).reply.text, "OK");
  ASSERT_EQ(call(io, client, {"GET", key}).reply.text, "before");  // the map is loaded by now
  int from = cluster.owner_of(slot), to = (from + 1) % cluster.size();
  cluster.migrate_slot(slot, to);
  ASSERT_EQ(cluster.owner_of(slot), to);

  // The client's map still names the old owner, which answers MOVED.
  auto get = call(io, client, {"GET", key});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.reply.text, "before");
  ASSERT_EQ(call(io, client, {"SET", key, "after"}).reply.text, "OK");
  EXPECT_EQ(cluster.node(to).cli({"GET", key}), "after");
}

TEST_F(RedisClusterTest, FollowsAskWhileASlotIsMigrating) {
  RedisClient client{io, cluster_options(cluster.seeds())};
  const std::string key = "asked-key";
  int slot = key_slot(key);
  ASSERT_TRUE(call(io, client, {"PING"}).ok());
  int from = cluster.owner_of(slot), to = (from + 1) % cluster.size();
  cluster.begin_migration(slot, to);

  // The old owner lacks the key and its slot is migrating: ASK, then ASKING + SET on `to`.
  auto set = call(io, client, {"SET", key, "imported"});
  ASSERT_EQ(set.reply.text, "OK") << set.reply.text;
  const std::string s = std::to_string(slot);
  EXPECT_EQ(cluster.node(to).cli({"CLUSTER", "COUNTKEYSINSLOT", s}), "1");
  EXPECT_EQ(cluster.node(from).cli({"CLUSTER", "COUNTKEYSINSLOT", s}), "0");
  // ASK moved that one command, not the slot: the old owner still serves it.
  EXPECT_EQ(cluster.owner_of(slot), from);
  auto get = call(io, client, {"GET", key});
  EXPECT_EQ(get.reply.text, "imported") << get.reply.text;
}

TEST_F(RedisClusterTest, RunsAScriptOnHashTaggedKeys) {
  RedisClient client{io, cluster_options(cluster.seeds())};
  RedisScript script{
      "redis.call('INCRBY', KEYS[1], ARGV[1]) return redis.call('INCRBY', KEYS[2], ARGV[1])"};
  // One hash tag served by each node.
  std::vector<std::string> tags(cluster.size());
  for (int i = 0; std::find(tags.begin(), tags.end(), std::string{}) != tags.end(); ++i) {
    std::string tag = "{user" + std::to_string(i) + "}";
    auto& owned = tags[cluster.owner_of(key_slot(tag))];
    if (owned.empty()) owned = tag;
  }
  for (int n = 0; n < cluster.size(); ++n) {
    auto result = run(io, client.eval(script, {tags[n] + ".tokens", tags[n] + ".spent"}, {"3"}));
    ASSERT_TRUE(result.ok()) << to_string(result.error);
    EXPECT_EQ(result.reply.integer, 3) << result.reply.text;
    EXPECT_EQ(cluster.node(n).cli({"GET", tags[n] + ".tokens"}), "3");
  }

  // Keys in two slots: the cluster's CROSSSLOT error comes back as a reply.
  auto cross = run(io, client.eval(script, {"a", "b"}, {"1"}));
  ASSERT_TRUE(cross.ok());
  EXPECT_TRUE(cross.reply.is_error("CROSSSLOT")) << cross.reply.text;
}

}  // namespace
}  // namespace portico::stores::redis
