#include "observability/access_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace portico::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AccessLogEntry full_entry() {
  AccessLogEntry e;
  e.time_unix_ms = 1'795'887'650'123;  // 2026-11-28T17:40:50.123Z
  e.request_id = "req-1";
  e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  e.client_ip = "203.0.113.7";
  e.method = "GET";
  e.path = "/users/42";
  e.query = "expand=orders&limit=5";
  e.route = "users";
  e.status = 200;
  e.upstream = "users-svc";
  e.target = "http://10.0.0.5:8081";
  e.duration_ms = 12.3456;
  e.upstream_ms = 10.5;
  e.bytes_in = 120;
  e.bytes_out = 3456;
  e.consumer = "mobile-app";
  e.cache = "MISS";
  e.retries = 1;
  return e;
}

boost::json::object parse_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line";
  return boost::json::parse(line).as_object();
}

TEST(AccessLogLine, HasExactlyTheContractFieldsAsValidJson) {
  std::string out;
  format_access_log_line(out, full_entry());
  auto o = parse_line(out);

  std::vector<std::string> keys;
  for (const auto& kv : o) keys.emplace_back(kv.key());
  EXPECT_THAT(keys, ::testing::ElementsAre("time", "request_id", "trace_id", "client_ip", "method",
                                           "path", "route", "status", "upstream", "target",
                                           "duration_ms", "upstream_ms", "bytes_in", "bytes_out",
                                           "consumer", "cache", "retries", "error"));
  EXPECT_EQ(o["time"], "2026-11-28T17:40:50.123Z");
  EXPECT_EQ(o["request_id"], "req-1");
  EXPECT_EQ(o["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(o["client_ip"], "203.0.113.7");
  EXPECT_EQ(o["method"], "GET");
  EXPECT_EQ(o["path"], "/users/42?expand=orders&limit=5");
  EXPECT_EQ(o["route"], "users");
  EXPECT_EQ(o["status"].to_number<int>(), 200);
  EXPECT_EQ(o["upstream"], "users-svc");
  EXPECT_EQ(o["target"], "http://10.0.0.5:8081");
  EXPECT_NEAR(o["duration_ms"].to_number<double>(), 12.346, 1e-9);
  EXPECT_NEAR(o["upstream_ms"].to_number<double>(), 10.5, 1e-9);
  EXPECT_EQ(o["bytes_in"].to_number<int>(), 120);
  EXPECT_EQ(o["bytes_out"].to_number<int>(), 3456);
  EXPECT_EQ(o["consumer"], "mobile-app");
  EXPECT_EQ(o["cache"], "MISS");
  EXPECT_EQ(o["retries"].to_number<int>(), 1);
  EXPECT_TRUE(o["error"].is_null());
}

TEST(AccessLogLine, WritesTimeAsRfc3339UtcWithMilliseconds) {
  std::string out;
  auto e = full_entry();
  e.time_unix_ms = 5;  // 1970-01-01T00:00:00.005Z: every field zero-padded
  format_access_log_line(out, e);
  EXPECT_EQ(parse_line(out)["time"], "1970-01-01T00:00:00.005Z");

  out.clear();
  e.time_unix_ms = 1'709'251'199'999;  // the last millisecond of a leap day
  format_access_log_line(out, e);
  auto time = std::string{parse_line(out)["time"].as_string()};
  EXPECT_EQ(time, "2024-02-29T23:59:59.999Z");
  EXPECT_TRUE(std::regex_match(time, std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}));
}

TEST(AccessLogLine, RedactsTokenAndAccessTokenQueryValues) {
  std::string out;
  auto e = full_entry();
  e.query = "a=1&token=s3cret&access_token=abc.def&b=2&Access_Token=x&%74oken=y&tokens=keep";
  format_access_log_line(out, e);
  auto o = parse_line(out);
  EXPECT_EQ(
      o["path"],
      "/users/42?a=1&token=***&access_token=***&b=2&Access_Token=***&%74oken=***&tokens=keep");
  EXPECT_THAT(out, Not(HasSubstr("s3cret")));
  EXPECT_THAT(out, Not(HasSubstr("abc.def")));
}

TEST(AccessLogLine, WritesNullForAbsentUpstreamAndOptionalFields) {
  std::string out;
  AccessLogEntry e;
  e.time_unix_ms = 0;
  e.request_id = "r";
  e.client_ip = "::1";
  e.method = "GET";
  e.path = "/nowhere";
  e.status = 404;
  e.error = "no route";
  format_access_log_line(out, e);
  auto o = parse_line(out);
  EXPECT_EQ(o["path"], "/nowhere");  // no '?' without a query
  EXPECT_TRUE(o["upstream_ms"].is_null());
  for (auto key : {"trace_id", "route", "upstream", "target", "consumer", "cache"}) {
    EXPECT_TRUE(o[key].is_null()) << key;
  }
  EXPECT_EQ(o["error"], "no route");
  EXPECT_EQ(o["retries"].to_number<int>(), 0);
}

TEST(AccessLogLine, StaysValidJsonWithQuotesControlCharactersAndInvalidUtf8) {
  std::string out;
  auto e = full_entry();
  e.path = "/a\"b\\c\n\x01/caf\xC3\xA9/\xFF\xC3";
  e.client_ip = "1.2.3.4\"}";
  format_access_log_line(out, e);
  auto o = parse_line(out);
  EXPECT_EQ(
      o["path"],
      "/a\"b\\c\n\x01/caf\xC3\xA9/\xC3\xBF\xC3\x83?expand=orders&limit=5");  // bytes as U+00XX
  EXPECT_EQ(o["client_ip"], "1.2.3.4\"}");
}

TEST(AccessLogLine, AppendsToWhatIsAlreadyInTheBuffer) {
  std::string out = "previous line\n";
  format_access_log_line(out, full_entry());
  EXPECT_TRUE(out.starts_with("previous line\n{\"time\":"));
}

class TempFile {
 public:
  TempFile() {
    auto dir = std::filesystem::temp_directory_path();
    path_ = (dir / ("portico_access_log_test_" + std::to_string(::getpid()) + "_" +
                    std::to_string(counter_++) + ".log"))
                .string();
    std::filesystem::remove(path_);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }
  std::string read() const {
    std::ifstream in{path_};
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s{text};
  for (std::string line; std::getline(s, line);) lines.push_back(line);
  return lines;
}

TEST(AccessLogWriter, WritesManyAppendsToAFileInOrder) {
  TempFile file;
  constexpr int count = 5000;  // several 64 KiB chunks
  {
    auto writer = std::make_shared<AccessLogWriter>(file.path());
    AccessLogBuffer buffer{writer};
    auto e = full_entry();
    std::vector<std::string> ids(count);
    for (int i = 0; i < count; ++i) {
      ids[i] = "req-" + std::to_string(i);
      e.request_id = ids[i];
      buffer.append(e);
    }
    buffer.flush();
    writer->flush_and_wait();

    auto lines = lines_of(file.read());
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      auto o = boost::json::parse(lines[i]).as_object();
      ASSERT_EQ(o["request_id"].as_string(), ids[i]) << "line " << i;
    }
    EXPECT_EQ(writer->dropped_chunks(), 0u);
  }
  EXPECT_EQ(std::filesystem::status(file.path()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read | std::filesystem::perms::others_read)
      << "0644 (with the usual umask 022)";
}

TEST(AccessLogWriter, AppendsToAnExistingFileAndDrainsOnDestruction) {
  TempFile file;
  { std::ofstream{file.path()} << "existing\n"; }
  {
    auto writer = std::make_shared<AccessLogWriter>(file.path());
    AccessLogBuffer buffer{writer};
    buffer.append(full_entry());
    // No explicit flush: the buffer hands off on destruction, the writer drains on its own.
  }
  auto lines = lines_of(file.read());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "existing");
  EXPECT_THAT(lines[1], HasSubstr("\"request_id\":\"req-1\""));
}

TEST(AccessLogWriter, RecyclesWrittenBuffersAsSpares) {
  TempFile file;
  AccessLogWriter writer{file.path()};
  std::string chunk(100, 'x');
  chunk += '\n';
  chunk.reserve(100'000);
  auto* storage = chunk.data();
  writer.submit(std::move(chunk));
  writer.flush_and_wait();
  std::string spare;
  writer.take_spare(spare);
  EXPECT_TRUE(spare.empty());
  EXPECT_EQ(spare.data(), storage) << "the written chunk's memory comes back";
}

TEST(AccessLogWriter, ThrowsWhenTheFileCannotBeOpened) {
  try {
    AccessLogWriter writer{"/nonexistent-dir/portico/access.log"};
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("cannot open access log /nonexistent-dir/portico/access.log: "));
  }
}

}  // namespace
}  // namespace portico::observability
