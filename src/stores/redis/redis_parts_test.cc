// The pieces of the client that need no server: slots, URLs, redirects, the slot map, RESP.
#include <gtest/gtest.h>

#include "stores/redis/cluster_slots.h"
#include "stores/redis/key_slot.h"
#include "stores/redis/redis_command.h"
#include "stores/redis/redis_endpoint.h"
#include "stores/redis/redis_script.h"

namespace portico::stores::redis {
namespace {

using Type = RedisReply::Type;

TEST(RedisKeySlot, MatchesTheClusterSpecification) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the specification's check value
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(RedisKeySlot, HashesOnlyTheHashTag) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  // An empty tag does not count: the whole key is hashed.
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") & 16383);
  EXPECT_EQ(key_slot("foo{bar"), crc16("foo{bar") & 16383);
}

TEST(RedisEndpoint, ReadsHostPortDatabaseAndLogin) {
  RedisEndpoint plain;
  EXPECT_EQ(parse_endpoint("redis://127.0.0.1:6380/2", plain), "");
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, 6380);
  EXPECT_EQ(plain.db, 2);
  EXPECT_FALSE(plain.tls);
  EXPECT_TRUE(plain.password.empty());

  RedisEndpoint password_only;
  EXPECT_EQ(parse_endpoint("rediss://:s%40cret@cache.internal", password_only), "");
  EXPECT_TRUE(password_only.tls);
  EXPECT_EQ(password_only.port, 6379);
  EXPECT_EQ(password_only.user, "");
  EXPECT_EQ(password_only.password, "s@cret");

  RedisEndpoint user;
  EXPECT_EQ(parse_endpoint("redis://alice:wonder@[::1]:7000", user), "");
  EXPECT_EQ(user.host, "::1");
  EXPECT_EQ(user.address(), "[::1]:7000");
  EXPECT_EQ(user.user, "alice");
  EXPECT_EQ(user.password, "wonder");

  RedisEndpoint seed;
  EXPECT_EQ(parse_endpoint("127.0.0.1:7001", seed), "");
  EXPECT_EQ(seed.port, 7001);
}

TEST(RedisEndpoint, RejectsWhatIsNotARedisUrl) {
  RedisEndpoint out;
  EXPECT_NE(parse_endpoint("http://127.0.0.1:6379", out), "");
  EXPECT_NE(parse_endpoint("redis://127.0.0.1:70000", out), "");
  EXPECT_NE(parse_endpoint("redis://127.0.0.1/x", out), "");
  EXPECT_NE(parse_endpoint("redis://alice@127.0.0.1", out), "");
  EXPECT_NE(parse_endpoint("redis://", out), "");
}

RedisReply reply(Type type, std::string text) {
  RedisReply out;
  out.type = type;
  out.text = std::move(text);
  return out;
}
RedisReply error(std::string text) {
  return reply(Type::Error, std::move(text));
}
RedisReply string(std::string text) {
  return reply(Type::String, std::move(text));
}
RedisReply integer(long long value) {
  RedisReply out;
  out.type = Type::Integer;
  out.integer = value;
  return out;
}
RedisReply array(std::vector<RedisReply> elements) {
  RedisReply out;
  out.type = Type::Array;
  out.elements = std::move(elements);
  return out;
}

TEST(RedisRedirect, TakesMovedAndAskApart) {
  auto moved = parse_redirect(error("MOVED 3999 127.0.0.1:6381"));
  EXPECT_EQ(moved.kind, Redirect::Kind::Moved);
  EXPECT_EQ(moved.slot, 3999);
  EXPECT_EQ(moved.node, (NodeAddress{"127.0.0.1", 6381}));
  auto ask = parse_redirect(error("ASK 12 ::1:7002"));
  EXPECT_EQ(ask.kind, Redirect::Kind::Ask);
  EXPECT_EQ(ask.node, (NodeAddress{"::1", 7002}));
  EXPECT_EQ(parse_redirect(error("MOVEDX 1 a:1")).kind, Redirect::Kind::None);
  EXPECT_EQ(parse_redirect(error("MOVED 99999 a:1")).kind, Redirect::Kind::None);
  EXPECT_EQ(parse_redirect(string("MOVED 1 a:1")).kind, Redirect::Kind::None);
}

TEST(RedisClusterSlots, MapsSlotsToMastersFromClusterSlots) {
  ClusterSlots slots;
  EXPECT_TRUE(slots.empty());
  auto reply = array({
      array({integer(0), integer(8191), array({string("10.0.0.1"), integer(7000), string("id1")}),
             array({string("10.0.0.9"), integer(7009)})}),
      array({integer(8192), integer(16383), array({string(""), integer(7001)})}),
  });
  ASSERT_TRUE(slots.assign(reply, "10.0.0.2"));
  EXPECT_EQ(*slots.node_of(0), (NodeAddress{"10.0.0.1", 7000}));
  EXPECT_EQ(*slots.node_of(8191), (NodeAddress{"10.0.0.1", 7000}));
  EXPECT_EQ(*slots.node_of(8192), (NodeAddress{"10.0.0.2", 7001}));  // no host: the one asked
  EXPECT_EQ(slots.nodes().size(), 2u);
  slots.set(5, {"10.0.0.3", 7003});
  EXPECT_EQ(*slots.node_of(5), (NodeAddress{"10.0.0.3", 7003}));
  EXPECT_FALSE(slots.assign(array({array({integer(0), integer(20000)})}), "x"));
  EXPECT_EQ(*slots.node_of(0), (NodeAddress{"10.0.0.1", 7000}));  // unchanged
}

TEST(RedisCommand, FormatsAndReadsBackRespWithHiredis) {
  std::string bytes;
  append_command(bytes, {"SET", "k", std::string_view{"a\0b", 3}});
  EXPECT_EQ(bytes, std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n", 29));

  ReplyReader reader;
  RedisReply reply;
  reader.feed("*3\r\n:42\r\n$-1\r\n+O");
  EXPECT_EQ(reader.next(reply), ReplyReader::Next::NeedMore);
  reader.feed("K\r\n-ERR wrong\r\n");
  ASSERT_EQ(reader.next(reply), ReplyReader::Next::Reply);
  ASSERT_EQ(reply.type, Type::Array);
  ASSERT_EQ(reply.elements.size(), 3u);
  EXPECT_EQ(reply.elements[0].integer, 42);
  EXPECT_EQ(reply.elements[1].type, Type::Nil);
  EXPECT_EQ(reply.elements[2].type, Type::Status);
  EXPECT_EQ(reply.elements[2].text, "OK");
  ASSERT_EQ(reader.next(reply), ReplyReader::Next::Reply);
  EXPECT_TRUE(reply.is_error("ERR"));
  EXPECT_EQ(reader.next(reply), ReplyReader::Next::NeedMore);
  reader.feed("?what\r\n");
  EXPECT_EQ(reader.next(reply), ReplyReader::Next::Malformed);
}

TEST(RedisScript, KnowsItsSha1) {
  EXPECT_EQ(RedisScript{""}.sha1(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

}  // namespace
}  // namespace portico::stores::redis
