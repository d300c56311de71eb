#!lua flags=allow-oom
--[[
  Claims up to `limit` eligible ids for one flush.

  Why atomic: two workers must never claim the same id. A claimed id's eligibility moves `claimTimeout` ms
  ahead, like a visibility timeout: if this worker dies, the id becomes eligible again and another worker
  flushes it.

  Why `allow-oom`: a Redis full under `noeviction` refuses every script that may write unless it says so, and
  the flusher is what frees the memory. A claim grows memory by one small hash field per id, which the ack
  of the same batch gives back together with the flushed rows.

    Input:
      KEYS[1] pending (sorted set: id -> when eligible)
      KEYS[2] claimed (hash: id -> claim time)

      ARGV[1] now, in ms
      ARGV[2] limit
      ARGV[3] claim timeout, in ms

    Output:
      the claimed ids
]]
local pendingKey = KEYS[1]
local claimedKey = KEYS[2]

local ids = redis.call('ZRANGEBYSCORE', pendingKey, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', pendingKey, 'XX', tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
  redis.call('HSET', claimedKey, id, ARGV[1])
end
return ids
