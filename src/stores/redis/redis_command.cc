#include "stores/redis/redis_command.h"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <vector>

namespace portico::stores::redis {

namespace {

template <class Range>
void append_range(std::string& out, const Range& argv) {
  // Most commands have a handful of arguments: no allocation for the pointer arrays then.
  constexpr std::size_t inline_args = 16;
  const char* inline_ptrs[inline_args];
  std::size_t inline_lens[inline_args];
  std::vector<const char*> heap_ptrs;
  std::vector<std::size_t> heap_lens;
  const char** ptrs = inline_ptrs;
  std::size_t* lens = inline_lens;
  if (argv.size() > inline_args) {
    heap_ptrs.resize(argv.size());
    heap_lens.resize(argv.size());
    ptrs = heap_ptrs.data();
    lens = heap_lens.data();
  }
  std::size_t i = 0;
  for (const auto& arg : argv) {
    ptrs[i] = arg.data();
    lens[i] = arg.size();
    ++i;
  }
  char* command = nullptr;
  int length = redisFormatCommandArgv(&command, static_cast<int>(argv.size()), ptrs, lens);
  if (length > 0) out.append(command, static_cast<std::size_t>(length));
  std::free(command);  // hiredis 0.14 formats into malloc()ed memory
}

RedisReply convert(const redisReply& in) {
  RedisReply out;
  switch (in.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.text.assign(in.str, in.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.text.assign(in.str, in.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.text.assign(in.str, in.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = in.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(in.elements);
      for (std::size_t i = 0; i < in.elements; ++i) out.elements.push_back(convert(*in.element[i]));
      break;
    default:  // REDIS_REPLY_NIL, and a nil array
      break;
  }
  return out;
}

}  // namespace

void append_command(std::string& out, std::span<const std::string> argv) {
  append_range(out, argv);
}

void append_command(std::string& out, std::initializer_list<std::string_view> argv) {
  append_range(out, argv);
}

ReplyReader::ReplyReader() : reader_(redisReaderCreate()) {}

ReplyReader::~ReplyReader() {
  redisReaderFree(reader_);
}

void ReplyReader::feed(std::string_view bytes) {
  redisReaderFeed(reader_, bytes.data(), bytes.size());
}

ReplyReader::Next ReplyReader::next(RedisReply& out) {
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) return Next::Malformed;
  if (reply == nullptr) return Next::NeedMore;
  out = convert(*static_cast<const redisReply*>(reply));
  freeReplyObject(reply);
  return Next::Reply;
}

std::string ReplyReader::error() const {
  return reader_->errstr;
}

}  // namespace portico::stores::redis
