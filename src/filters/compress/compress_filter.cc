#include "filters/compress/compress_filter.h"

#include <algorithm>

#include "core/ascii.h"

namespace portico::filters::compress {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated field value (Vary, Cache-Control) has `token`, any case.
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    // A Cache-Control directive may carry a value: no-transform never does, but stop at '='.
    item = trim(item.substr(0, item.find('=')));
    if (core::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool any_field_has(const core::ResponseHead& head, std::string_view name, std::string_view token) {
  return std::any_of(head.fields.begin(), head.fields.end(), [&](const core::HeaderField& f) {
    return core::iequals(f.name, name) && has_token(f.value, token);
  });
}

// Caches must keep the encodings apart: Accept-Encoding joins whatever Vary the answer has.
void add_vary(core::ResponseHead& head) {
  if (any_field_has(head, "vary", "accept-encoding") || any_field_has(head, "vary", "*")) return;
  std::string merged;
  for (const auto& f : head.fields) {
    if (!core::iequals(f.name, "vary") || trim(f.value).empty()) continue;
    merged.append(trim(f.value));
    merged.append(", ");
  }
  if (merged.empty()) {
    head.add("Vary", "Accept-Encoding");
    return;
  }
  merged.append("Accept-Encoding");
  head.remove("vary");
  head.add_copy("Vary", merged);
}

// The compressed bytes differ from what a strong ETag names (RFC 9110 8.8.3).
void weaken_etag(core::ResponseHead& head) {
  auto etag = head.find("etag");
  if (etag.empty() || etag.front() != '"') return;
  std::string weak = "W/";
  weak.append(etag);
  head.remove("etag");
  head.add_copy("ETag", weak);
}

}  // namespace

CompressFilter::CompressFilter(const CompressionConfig& config)
    : min_size_(config.min_size), levels_(config.level) {
  for (const auto& name : config.encodings) {
    auto encoding = encoding_from_name(name);
    if (encoding != Encoding::Identity) preference_.push_back(encoding);
  }
  for (const auto& type : config.types) {
    std::string lower;
    for (char c : type) lower.push_back(core::ascii_lower(c));
    if (lower.size() >= 2 && lower.ends_with("/*"))
      type_prefixes_.push_back(lower.substr(0, lower.size() - 1));
    else
      exact_types_.push_back(std::move(lower));
  }
}

bool CompressFilter::compressible_type(std::string_view content_type) const {
  auto media = trim(content_type.substr(0, content_type.find(';')));
  if (media.empty()) return false;
  for (const auto& type : exact_types_)
    if (core::iequals(media, type)) return true;
  for (const auto& prefix : type_prefixes_) {
    if (media.size() > prefix.size() && core::iequals(media.substr(0, prefix.size()), prefix))
      return true;
  }
  return false;
}

int CompressFilter::level_of(Encoding encoding) const {
  switch (encoding) {
    case Encoding::Gzip:
      return levels_.gzip;
    case Encoding::Br:
      return levels_.br;
    case Encoding::Zstd:
      return levels_.zstd;
    case Encoding::Identity:
      break;
  }
  return 0;
}

// Whether the answer could be compressed for some client: then its representation varies with
// Accept-Encoding, whatever this client asked for.
bool CompressFilter::eligible(const proxy::RequestContext& ctx,
                              const core::ResponseHead& head) const {
  int status = head.status;
  // No body (HEAD, 204, 304), part of one (206: ranges of the unencoded bytes), or not HTTP
  // any more (1xx, 101).
  if (status < 200 || status == 204 || status == 206 || status == 304) return false;
  if (head.keep_framing || (ctx.head && ctx.head->method == "HEAD")) return false;
  auto encoding = head.find("content-encoding");
  if (!encoding.empty() && !core::iequals(trim(encoding), "identity")) return false;
  if (any_field_has(head, "cache-control", "no-transform")) return false;
  if (head.content_length && *head.content_length < min_size_) return false;
  return compressible_type(head.find("content-type"));
}

proxy::Next CompressFilter::on_response(proxy::RequestContext& ctx,
                                        core::ResponseHead& head) const {
  auto& state = ctx.state.get<State>(state_slot());
  if (state.seen_head) {
    // A filter's replacement: its body goes out whole, past on_body, so it stays as it is.
    state.active = false;
    return proxy::Next::Continue;
  }
  state.seen_head = true;
  if (!eligible(ctx, head)) return proxy::Next::Continue;
  add_vary(head);
  auto accepted = ctx.head ? ctx.head->find("accept-encoding") : std::string_view();
  auto encoding = negotiate(accepted, preference_);
  if (encoding == Encoding::Identity) return proxy::Next::Continue;
  if (!state.compressor.start(encoding, level_of(encoding), head.content_length))
    return proxy::Next::Continue;

  state.active = true;
  head.set("Content-Encoding", encoding_name(encoding));
  head.content_length.reset();  // the codec frames the compressed body (chunked)
  // Ranges would address the compressed bytes, which no one can predict.
  head.remove("accept-ranges");
  weaken_etag(head);
  return proxy::Next::Continue;
}

void CompressFilter::on_body(proxy::RequestContext& ctx, proxy::BodyChunk& chunk) const {
  auto* state = ctx.state.find<State>(state_slot());
  if (!state || !state->active) return;
  auto& out = state->out;
  out.clear();
  bool ok = true;
  if (chunk.last && !state->streamed && chunk.pieces.pieces.size() <= 1) {
    // The whole body in one piece (a small answer, usually): compressed in one pass.
    auto whole = chunk.pieces.pieces.empty() ? std::string_view() : chunk.pieces.pieces.front();
    ok = state->compressor.write_all(whole, out);
    if (!ok) out.clear();
    state->active = false;
    chunk.pieces.clear();
    chunk.pieces.add(out);
    return;
  }
  state->streamed = true;
  for (auto piece : chunk.pieces.pieces) {
    ok = ok && state->compressor.write(piece, out);
    state->pending = state->pending || !piece.empty();
  }
  // One flush per piece the upstream sent, so nothing waits in the encoder for more.
  if (chunk.last)
    ok = ok && state->compressor.finish(out);
  else if (state->pending)
    ok = ok && state->compressor.flush(out);
  state->pending = false;
  if (!ok) {
    // Nothing sound can follow a broken stream; the client sees a truncated encoding.
    out.clear();
    state->active = false;
  }
  if (chunk.last) state->active = false;
  chunk.pieces.clear();
  chunk.pieces.add(out);
}

}  // namespace portico::filters::compress
