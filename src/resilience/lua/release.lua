-- Release an operator's hold on a fleet breaker.
-- KEYS: state hash. A breaker held open probes at its next call (half-open, as a local breaker
-- does); one held closed stays closed, with its counts cleared; one open on its own is left.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local forced = redis.call('HGET', KEYS[1], 'forced')
local state = redis.call('HGET', KEYS[1], 'state')
redis.call('HDEL', KEYS[1], 'forced')
if state ~= 'open' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'consecutive', 0)
elseif forced == 'open' then
  redis.call('HSET', KEYS[1], 'until', now)
end
return 1
