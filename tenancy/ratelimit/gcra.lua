-- One rate-limit decision over several GCRA buckets, all or nothing, on Redis server time.
--
-- KEYS[i]   a bucket's key; every key of one call shares a hash tag ({ws:<id>}, {ip:<ip>} ...),
--           so the call stays on one Redis Cluster slot.
-- ARGV      three numbers per key, in KEYS order: limit (units per window), window (ms),
--           cost (units this request takes from the bucket).
--
-- A bucket stores its theoretical arrival time (TAT, microseconds of Redis time). A request
-- of cost c moves it by c * window / limit; the request fits while the new TAT is at most one
-- window ahead of now. So a full bucket admits `limit` units at once and then refills
-- continuously: there is no window boundary at which a second burst becomes possible.
--
-- Returns {allowed, retry_after_ms, refused_index, single_unit_ms, remaining_1, reset_ms_1,
-- ...}. A refused request changes nothing, and the per-bucket figures then describe the
-- unchanged buckets; single_unit_ms says how long the refusing bucket cannot admit even one
-- unit (so a process may refuse the same caller locally until then).

redis.replicate_commands()

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local n = #KEYS
local allowed = 1
local retry = 0
local refused = 0
local single = 0
local new_tats = {}
local before = {}
local after = {}

for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1]) * 1000
  local cost = tonumber(ARGV[3 * i])
  local interval = window / limit

  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then
    tat = now
  end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - window

  before[i] = {math.floor((window - (tat - now)) / interval), tat - now}
  after[i] = {math.floor((window - (new_tat - now)) / interval), new_tat - now}
  new_tats[i] = new_tat

  if allow_at > now then
    allowed = 0
    if allow_at - now > retry then
      retry = allow_at - now
      refused = i
      single = math.max(0, tat + interval - window - now)
    end
  end
end

local result = {allowed, math.ceil(retry / 1000), refused, math.floor(single / 1000)}
for i = 1, n do
  local state = before[i]
  if allowed == 1 then
    state = after[i]
    local ttl = math.ceil((new_tats[i] - now) / 1000) + 1
    redis.call('SET', KEYS[i], string.format('%.0f', new_tats[i]), 'PX', ttl)
  end
  result[#result + 1] = math.max(state[1], 0)
  result[#result + 1] = math.ceil(state[2] / 1000)
end
return result
