-- Leave to call from the fleet breaker.
-- KEYS: state hash, probe lease. ARGV: half_open_max_calls, lease ms.
-- Returns {allowed, wait ms, probe}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local forced = redis.call('HGET', KEYS[1], 'forced')
if forced == 'open' then return {0, 60000, 0} end
if forced == 'closed' then return {1, 0, 0} end
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then
  local reopen = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
  if now < reopen then return {0, reopen - now, 0} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'successes', 0)
  state = 'half_open'
end
if state == 'closed' then return {1, 0, 0} end
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[2])
  return {0, 1000, 0}
end
return {1, 0, 1}
