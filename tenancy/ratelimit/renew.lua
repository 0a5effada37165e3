-- Extend a lease taken by slots.lua, on Redis time.
--
-- KEYS[1]  the sorted set of leases.
-- ARGV     lease length (ms), lease token.
--
-- Returns 1 when the lease was still held (and now runs `lease` ms from now), 0 when it had
-- expired or was released (the holder should take a new one).

redis.replicate_commands()

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = tonumber(ARGV[1])

local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
