// The Redis store's decision: GCRA (gcra.h) as one Lua script, so that checking every bucket of
// a request and charging them happens atomically on the server, by the server's clock, however
// many gateways share it. KEYS: the buckets; ARGV: each bucket's interval and tolerance in
// microseconds (Lua numbers are doubles: microseconds since 1970 stay exact, nanoseconds would
// not). Returns {refused (1-based, 0: admitted), then per bucket: remaining, retry_after_us,
// reset_us}. Admitted requests set every TAT with an expiry at the time its bucket is full
// again, so idle keys leave Redis by themselves.
#pragma once

#include <string_view>

namespace portico::filters::rate_limit {

inline constexpr std::string_view kGcraScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats = {}
local out = {0}
local refused = 0
for i = 1, n do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local base = math.max(tat, now)
  local nxt = base + interval
  if nxt - now <= tolerance then
    tats[i] = nxt
    out[#out + 1] = math.floor((tolerance - (nxt - now)) / interval)
    out[#out + 1] = 0
    out[#out + 1] = nxt - now
  else
    if refused == 0 then refused = i end
    out[#out + 1] = 0
    out[#out + 1] = nxt - now - tolerance
    out[#out + 1] = base - now
  end
end
if refused == 0 then
  for i = 1, n do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX',
               math.floor((tats[i] - now) / 1000) + 1)
  end
end
out[1] = refused
return out
)lua";

// Gives back one request's charge on buckets a script admitted when another part of the same
// request was refused elsewhere (Redis Cluster: buckets on different nodes cannot share one
// script). ARGV: each bucket's interval in microseconds.
inline constexpr std::string_view kGcraRefundScript = R"lua(
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat > 0 then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl > 0 then
      redis.call('SET', KEYS[i], string.format('%.0f', tat - tonumber(ARGV[i])), 'PX', ttl)
    end
  end
end
return 0
)lua";

}  // namespace portico::filters::rate_limit
