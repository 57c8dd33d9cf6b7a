// Where an aggregate call's answer goes: kept whole in memory, up to a bound. A larger body
// stops the call (write() returns false, so the proxy action closes that upstream connection)
// and fails it; it never grows the process.
#pragma once

#include <cstdint>
#include <string>

#include "core/ascii.h"
#include "core/text.h"
#include "filters/cache/cache_headers.h"
#include "proxy/response_writer.h"

namespace portico::actions::aggregate {

class CallWriter final : public portico::proxy::ResponseWriter {
 public:
  void reset(std::uint64_t limit) {
    status_ = 0;
    content_type_.clear();
    encoded_ = uncacheable_ = false;
    // A large answer's memory is not kept with the connection for the next one.
    if (body_.capacity() > kKeptCapacity) std::string().swap(body_);
    body_.clear();
    limit_ = limit;
    too_large_ = false;
  }
  void start(core::ResponseHead& head) override {
    status_ = head.status;
    content_type_ = head.find("content-type");  // the head's views go with the exchange
    auto encoding = core::trim(head.find("content-encoding"));
    encoded_ = !encoding.empty() && !core::iequals(encoding, "identity");
    // The merged answer may not be kept longer than any of its parts lets it.
    for (const auto& field : head.fields) {
      if (!core::iequals(field.name, "cache-control")) continue;
      auto directives = filters::cache::parse_cache_control(field.value);
      uncacheable_ = uncacheable_ || directives.no_store || directives.is_private;
    }
    if (head.content_length && *head.content_length > limit_) too_large_ = true;
  }
  boost::asio::awaitable<bool> write(const portico::proxy::BodyPieces& body, bool) override {
    if (too_large_ || body_.size() + body.bytes > limit_) {
      too_large_ = true;
      co_return false;
    }
    for (auto piece : body.pieces) body_ += piece;
    co_return true;
  }
  bool wants_body() const override { return !too_large_; }
  boost::asio::awaitable<bool> switch_protocols(core::ResponseHead&, net::ByteStream&,
                                                std::chrono::milliseconds) override {
    co_return false;
  }

  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& body() const { return body_; }
  bool too_large() const { return too_large_; }
  bool encoded() const { return encoded_; }          // a Content-Encoding other than identity
  bool uncacheable() const { return uncacheable_; }  // Cache-Control: no-store or private

 private:
  static constexpr std::size_t kKeptCapacity = 64 * 1024;
  int status_ = 0;
  std::string content_type_;
  std::string body_;
  std::uint64_t limit_ = 0;
  bool too_large_ = false;
  bool encoded_ = false;
  bool uncacheable_ = false;
};

}  // namespace portico::actions::aggregate
