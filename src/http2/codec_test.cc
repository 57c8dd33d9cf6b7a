// The codec against a real nghttp2 client session, bytes handed across in memory.
#include "http2/codec.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <vector>

namespace portico::http2 {
namespace {

struct ServerSide final : Codec::Events {
  std::vector<std::unique_ptr<StreamBase>> streams;
  std::vector<StreamBase*> requests;
  std::string body = "hello";
  std::size_t data_bytes = 0;
  std::vector<std::uint32_t> closed_codes;

  StreamBase* open_stream(std::int32_t) override {
    streams.push_back(std::make_unique<StreamBase>());
    return streams.back().get();
  }
  void on_request(StreamBase& stream, bool) override { requests.push_back(&stream); }
  void on_data(StreamBase&, const std::uint8_t*, std::size_t size) override { data_bytes += size; }
  void on_remote_end(StreamBase&) override {}
  void on_closed(StreamBase&, std::uint32_t code) override { closed_codes.push_back(code); }
  long read_body(StreamBase&, std::uint8_t* buffer, std::size_t size, bool& eof) override {
    auto n = std::min(size, body.size());
    std::copy_n(body.data(), n, buffer);
    eof = true;
    return static_cast<long>(n);
  }
};

// A client session whose bytes go to the codec and back.
class Client {
 public:
  Client() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data);
    nghttp2_session_client_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  std::int32_t get(std::vector<std::pair<std::string, std::string>> extra = {},
                   std::string path = "/items?id=7") {
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", "GET"}, {":scheme", "http"}, {":authority", "api.test"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [name, value] : fields)
      nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                     reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                     NGHTTP2_NV_FLAG_NONE});
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), nullptr, nullptr);
  }

  // Client bytes to the codec, the codec's back to the client, until neither has any.
  bool pump(Codec& codec, std::int64_t now_ms = 0) {
    bool alive = true;
    for (int round = 0; round < 100; ++round) {
      std::string bytes;
      for (;;) {
        const std::uint8_t* data = nullptr;
        auto n = nghttp2_session_mem_send(session, &data);
        if (n <= 0) break;
        bytes.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      if (!bytes.empty() && alive)
        alive = codec.receive(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                              now_ms);
      std::string back;
      codec.pending_output(back);
      if (!back.empty())
        nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(back.data()),
                                 back.size());
      if (bytes.empty() && back.empty()) break;
    }
    return alive;
  }

  nghttp2_session* session = nullptr;
  int status = 0;
  std::string body;
  std::uint32_t goaway_code = 0xffffffff;

 private:
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY)
      static_cast<Client*>(user)->goaway_code = frame->goaway.error_code;
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t* name,
                       std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                       std::uint8_t, void* user) {
    if (std::string_view(reinterpret_cast<const char*>(name), name_size) == ":status")
      static_cast<Client*>(user)->status =
          std::stoi(std::string(reinterpret_cast<const char*>(value), value_size));
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t* data,
                     std::size_t size, void* user) {
    static_cast<Client*>(user)->body.append(reinterpret_cast<const char*>(data), size);
    return 0;
  }
};

TEST(Http2Codec, RequestHeadAndAnswer) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  client.get({{"cookie", "a=1"}, {"cookie", "b=2"}, {"x-tag", "t"}});
  ASSERT_TRUE(client.pump(codec));
  ASSERT_EQ(server.requests.size(), 1u);
  auto& head = server.requests[0]->request;
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/items?id=7");
  EXPECT_EQ(head.raw_path, "/items");
  EXPECT_EQ(head.query, "id=7");
  EXPECT_EQ(head.version, 20);
  EXPECT_EQ(head.find("host"), "api.test");
  EXPECT_EQ(head.find("cookie"), "a=1; b=2");
  EXPECT_EQ(head.find("x-tag"), "t");

  core::ResponseHead answer;
  answer.status = 201;
  answer.add("X-Upper", "v");
  answer.add("Connection", "keep-alive");  // connection-specific: never on HTTP/2
  answer.content_length = server.body.size();
  ASSERT_TRUE(codec.submit_response(*server.requests[0], answer, true, false));
  client.pump(codec);
  EXPECT_EQ(client.status, 201);
  EXPECT_EQ(client.body, "hello");
  EXPECT_EQ(server.closed_codes, std::vector<std::uint32_t>{0});
}

TEST(Http2Codec, RapidResetEndsTheConnection) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  bool alive = true;
  for (int i = 0; i < 150 && alive; ++i) {
    auto id = client.get();
    client.pump(codec);
    nghttp2_submit_rst_stream(client.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    alive = client.pump(codec);
  }
  EXPECT_FALSE(alive);
  EXPECT_EQ(codec.end_reason(), EndReason::RapidReset);
  EXPECT_EQ(client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(Http2Codec, ResetsWithinTheAnswersAreFine) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  for (int i = 0; i < 150; ++i) {
    client.get();
    ASSERT_TRUE(client.pump(codec));
    core::ResponseHead answer;
    answer.status = 200;
    codec.submit_response(*server.requests.back(), answer, false, false);
    codec.answered();
    auto id = client.get();
    client.pump(codec);
    nghttp2_submit_rst_stream(client.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    ASSERT_TRUE(client.pump(codec)) << "round " << i;
  }
  EXPECT_EQ(codec.end_reason(), EndReason::None);
}

TEST(Http2Codec, HeaderListOverTheLimit) {
  ServerSide server;
  CodecSettings settings;
  settings.max_header_bytes = 4096;
  Codec codec(settings, server);
  Client client;
  nghttp2_settings_entry big{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 1u << 20};
  nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, &big, 1);
  client.get({{"x-big", std::string(3000, 'a')}, {"x-big2", std::string(3000, 'b')}});
  EXPECT_FALSE(client.pump(codec));
  EXPECT_EQ(codec.end_reason(), EndReason::HeaderTooLarge);
  EXPECT_TRUE(server.requests.empty());
  EXPECT_EQ(client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(Http2Codec, PingFloodWithinASecond) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  bool alive = true;
  for (int i = 0; i < 400 && alive; ++i) {
    nghttp2_submit_ping(client.session, NGHTTP2_FLAG_NONE, nullptr);
    alive = client.pump(codec, 1000);
  }
  EXPECT_FALSE(alive);
  EXPECT_EQ(codec.end_reason(), EndReason::ControlFlood);
}

TEST(Http2Codec, PingsSpreadOverTimeAreFine) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  for (int i = 0; i < 400; ++i) {
    nghttp2_submit_ping(client.session, NGHTTP2_FLAG_NONE, nullptr);
    ASSERT_TRUE(client.pump(codec, i * 100));  // ten a second
  }
}

TEST(Http2Codec, GarbageIsAProtocolError) {
  ServerSide server;
  Codec codec({}, server);
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(
      codec.receive(reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size(), 0));
  EXPECT_EQ(codec.end_reason(), EndReason::ProtocolError);
}

TEST(Http2Codec, GracefulGoAwayLetsOpenStreamsFinish) {
  ServerSide server;
  Codec codec({}, server);
  Client client;
  client.get();
  ASSERT_TRUE(client.pump(codec));
  codec.go_away(EndReason::Drain, false);
  client.pump(codec);
  EXPECT_EQ(client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_FALSE(codec.finished());  // the stream is still open
  core::ResponseHead answer;
  answer.status = 200;
  codec.submit_response(*server.requests[0], answer, true, false);
  client.pump(codec);
  EXPECT_EQ(client.body, "hello");
  EXPECT_TRUE(codec.finished());
}

}  // namespace
}  // namespace portico::http2
