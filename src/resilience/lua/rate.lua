-- Sliding-log quotas, all or nothing, on Redis's clock.
-- KEYS: one log per quota. ARGV: longest wait ms, then count and period ms per quota.
-- Returns {granted, wait ms}: granted 0 when the wait is longer than allowed (nothing charged).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = now
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  local newest = redis.call('LINDEX', key, 0)
  if newest and tonumber(newest) > at then at = tonumber(newest) end
  local nth = redis.call('LINDEX', key, count - 1)
  if nth and tonumber(nth) + period > at then at = tonumber(nth) + period end
end
local wait = at - now
if wait > tonumber(ARGV[1]) then return {0, wait} end
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  redis.call('LPUSH', key, at)
  redis.call('LTRIM', key, 0, count - 1)
  redis.call('PEXPIRE', key, period + wait + 1000)
end
return {1, wait}
