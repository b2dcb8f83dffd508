-- One call's outcome, recorded in the fleet breaker.
-- KEYS: state hash, probe lease, window list. ARGV: failed, probe, failure_threshold,
-- rate threshold (percent), minimum_calls, window size (calls), recovery ms, success_threshold,
-- window span ms (0: the window is the last `window size` calls, else the calls of that span).
-- Window entries are `<ms>:<1 failed | 0 not>`, newest first.
-- Returns the state after the outcome, and whether this outcome changed it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if redis.call('HGET', KEYS[1], 'forced') then return {state, 0} end
local failed = ARGV[1] == '1'
local function open()
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[7]), 'opened_at', now, 'successes', 0)
  redis.call('DEL', KEYS[2])
  return {'open', 1}
end
if ARGV[2] == '1' then
  if state ~= 'half_open' then return {state, 0} end
  if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
  if failed then return open() end
  if redis.call('HINCRBY', KEYS[1], 'successes', 1) >= tonumber(ARGV[8]) then
    redis.call('HSET', KEYS[1], 'state', 'closed', 'consecutive', 0, 'successes', 0)
    redis.call('HDEL', KEYS[1], 'until', 'opened_at')
    redis.call('DEL', KEYS[2], KEYS[3])
    return {'closed', 1}
  end
  return {'half_open', 0}
end
if state ~= 'closed' then return {state, 0} end
redis.call('LPUSH', KEYS[3], now .. ':' .. (failed and '1' or '0'))
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
local span = tonumber(ARGV[9])
if span > 0 then
  -- Calls older than the span leave from the old end (a call exactly `span` old stays, as locally).
  local horizon = now - span
  while true do
    local oldest = redis.call('LINDEX', KEYS[3], -1)
    if not oldest or (tonumber(string.match(oldest, '^(%d+):')) or 0) >= horizon then break end
    redis.call('RPOP', KEYS[3])
  end
end
if not failed then
  redis.call('HSET', KEYS[1], 'consecutive', 0)
  return {'closed', 0}
end
if redis.call('HINCRBY', KEYS[1], 'consecutive', 1) >= tonumber(ARGV[3]) then return open() end
local items = redis.call('LRANGE', KEYS[3], 0, -1)
local fails = 0
for _, v in ipairs(items) do if string.sub(v, -1) == '1' then fails = fails + 1 end end
if #items >= tonumber(ARGV[5]) and fails * 100 >= tonumber(ARGV[4]) * #items then return open() end
return {'closed', 0}
