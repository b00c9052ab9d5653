-- Atomic token bucket. One call = refill by elapsed time, then try to take `cost` tokens.
--
-- KEYS[1]  the bucket (a hash: tokens, ts)
-- ARGV[1]  capacity (burst), ARGV[2] refill rate in tokens per second, ARGV[3] cost (0 = only look),
-- ARGV[4]  the caller's time in seconds (TokenBucketThrottle.timer, time.time in production)
-- Returns {allowed (0/1), remaining tokens (floor), seconds until `cost` tokens are available,
--          seconds until the bucket is full}; the two durations as strings, as Redis would
--          truncate Lua numbers to integers, and measured on the caller's clock.
--
-- The time comes from the caller, so tests can move it, and callers disagree: threads of one process
-- reach Redis out of order, and web nodes' clocks differ a little. Hence the rule: the bucket's time
-- (ts) never moves backwards. A caller behind it refills nothing and leaves ts as it is; a caller ahead
-- of it refills for the difference. So every second of refill is paid for once, on the clock furthest
-- ahead: skew can make a lagging node stricter, and gives a leading node at most its lead once (never
-- more than the burst), whereas writing each caller's time would hand out the lead again on every
-- switch between a slow and a fast clock.

local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local caller_now = tonumber(ARGV[4])

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  -- An unknown (or expired) bucket starts full.
  tokens = capacity
  ts = caller_now
end
local now = math.max(caller_now, ts)
tokens = math.min(capacity, tokens + (now - ts) * rate)

local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end

-- Durations from the bucket's time, plus how far the caller's clock is behind it.
local behind = now - caller_now
local retry_after = 0
local want = math.max(cost, 1)
if tokens < want then
  retry_after = behind + (want - tokens) / rate
end
local until_full = 0
if tokens < capacity then
  until_full = behind + (capacity - tokens) / rate
end

if cost > 0 then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.6f', now))
  -- An idle bucket is full again after capacity/rate seconds; then it can vanish. Capped at a day
  -- so a tiny rate cannot pin a key for years.
  local ttl_ms = math.min(math.ceil(capacity / rate * 1000) + 1000, 86400000)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end

return {allowed, math.floor(tokens), string.format('%.6f', retry_after), string.format('%.6f', until_full)}
