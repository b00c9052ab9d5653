-- Atomic token bucket. One call = refill by elapsed time, then try to take `cost` tokens.
--
-- KEYS[1]  the bucket (a hash: tokens, ts)
-- ARGV[1]  capacity (burst), ARGV[2] refill rate in tokens per second, ARGV[3] cost (0 = only look)
-- Returns {allowed (0/1), remaining tokens (floor), seconds until `cost` tokens are available,
--          seconds until the bucket is full}; the two durations as strings, as Redis would
--          truncate Lua numbers to integers.
--
-- The clock is Redis TIME, so every web node shares one clock. Redis >= 5 replicates a script by its
-- effects, which is what makes a write after the non-deterministic TIME allowed.

local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  -- An unknown (or expired) bucket starts full.
  tokens = capacity
  ts = now
end
-- max(0, ...) so a clock step backwards never removes tokens.
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)

local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end

local retry_after = 0
local want = math.max(cost, 1)
if tokens < want then
  retry_after = (want - tokens) / rate
end
local until_full = (capacity - tokens) / rate

if cost > 0 then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.6f', now))
  -- An idle bucket is full again after capacity/rate seconds; then it can vanish. Capped at a day
  -- so a tiny rate cannot pin a key for years.
  local ttl_ms = math.min(math.ceil(capacity / rate * 1000) + 1000, 86400000)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end

return {allowed, math.floor(tokens), string.format('%.6f', retry_after), string.format('%.6f', until_full)}
