-- Take one of `cap` concurrent slots (a workspace's model calls in flight), on Redis time.
--
-- KEYS[1]  a sorted set of leases: member = lease token, score = expiry (ms of Redis time).
-- ARGV     cap, lease length (ms), lease token.
--
-- Leases expire, so a process that dies mid-call frees its slot after the lease length.
-- Returns {1, in_use} when the slot was taken, {0, in_use, ms_until_first_expiry} otherwise.

redis.replicate_commands()

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cap = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = redis.call('ZCARD', KEYS[1])
if used >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, used, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return {1, used + 1}
