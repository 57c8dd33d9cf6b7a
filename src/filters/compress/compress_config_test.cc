// `compression:` as the loader reads it: defaults, every key, and each kind of mistake
// reported at its key. A route's `compress: true` is built now, so it is not warned about.
#include "filters/compress/compress_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_loader.h"

namespace portico::filters::compress {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

config::LoadResult load(std::string_view rest) {
  std::string yaml = "upstreams:\n  users: {targets: [http://127.0.0.1:8081]}\n";
  yaml += rest;
  return config::load_config_string(yaml, "portico.yaml",
                                    [](std::string_view) { return std::nullopt; });
}

std::string errors_of(const config::LoadResult& result) {
  std::string out;
  for (const auto& error : result.errors) out += error.to_string() + "\n";
  return out;
}

TEST(CompressionConfig, AbsentSectionLeavesRoutesTheDefaults) {
  auto result = load("routes:\n  - {match: {prefix: /a}, upstream: users, compress: true}\n");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_FALSE(result.config->compression.has_value());
  EXPECT_EQ(result.config->routes[0].compress, true);
  for (const auto& warning : result.warnings) EXPECT_THAT(warning, Not(HasSubstr("compress")));
  CompressionConfig defaults;
  EXPECT_THAT(defaults.encodings, ElementsAre("zstd", "br", "gzip"));
  EXPECT_EQ(defaults.min_size, 1024u);
  EXPECT_THAT(defaults.types, ElementsAre("text/*", "application/json", "application/javascript",
                                          "application/xml", "image/svg+xml"));
  EXPECT_EQ(defaults.level, (CompressionLevels{5, 4, 3}));
}

TEST(CompressionConfig, ReadsEveryKey) {
  auto result = load(R"(
compression:
  encodings: [gzip, zstd]
  min_size: 4KiB
  types: [Text/*, application/json]
  level: {gzip: 9, br: 11, zstd: 19}
)");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const auto& c = *result.config->compression;
  EXPECT_THAT(c.encodings, ElementsAre("gzip", "zstd"));
  EXPECT_EQ(c.min_size, 4096u);
  EXPECT_THAT(c.types, ElementsAre("text/*", "application/json"));
  EXPECT_EQ(c.level, (CompressionLevels{9, 11, 19}));
}

TEST(CompressionConfig, ReportsEachMistakeAtItsKey) {
  auto result = load(R"(
compression:
  encodings: [gzip, deflate, gzip]
  min_size: lots
  types: [text, "application/json; charset=utf-8"]
  level: {gzip: 10, br: -1, zstd: 0, lz4: 1}
  extra: 1
)");
  ASSERT_FALSE(result.ok());
  auto errors = errors_of(result);
  for (auto where : {"compression.encodings[1]", "compression.encodings[2]: gzip is listed twice",
                     "compression.min_size", "compression.types[0]", "compression.types[1]",
                     "compression.level.gzip", "compression.level.br", "compression.level.zstd",
                     "compression.level.lz4", "compression.extra"}) {
    EXPECT_THAT(errors, HasSubstr(where));
  }
}

TEST(CompressionConfig, AnEmptyEncodingListIsAMistake) {
  auto result = load("compression: {encodings: []}\n");
  EXPECT_THAT(errors_of(result), HasSubstr("expected at least one encoding"));
}

}  // namespace
}  // namespace portico::filters::compress
