#!lua flags=allow-oom
--[[
  Puts back in the pending set the accepted records that fell out of it (the set was evicted or deleted) while
  their rows are still in Redis, and counts as missing those whose rows are gone too: their changes can never
  reach Postgres.

  Why atomic: a record is in `accepted` exactly while it is unflushed (accept adds it, ack and dead-lettering
  remove it, each in one script), so in one step "accepted and not pending" can only mean lost from the pending
  set, never "settled meanwhile".

  Why `allow-oom`: it runs when Redis may be full, and re-adds at most what was lost.

    Input (a variable number of keys):
      KEYS[1] pending
      KEYS[2] accepted
      KEYS[3] counters (hash: `missing` counts records whose changes were lost)
      KEYS[4], KEYS[5], ... for each id: its entry, then its tombstone

      ARGV[1] now, in ms
      ARGV[2], ARGV[3], ... the ids, in the order of their keys

    Output:
      { records put back, records found missing }
]]
local pendingKey, acceptedKey, countersKey = KEYS[1], KEYS[2], KEYS[3]

local recovered, missing = 0, 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', acceptedKey, id) and not redis.call('ZSCORE', pendingKey, id) then
    if redis.call('EXISTS', KEYS[2 + 2 * (i - 1)], KEYS[3 + 2 * (i - 1)]) > 0 then
      redis.call('ZADD', pendingKey, ARGV[1], id)
      recovered = recovered + 1
    else
      redis.call('ZREM', acceptedKey, id)
      missing = missing + 1
    end
  end
end
if missing > 0 then redis.call('HINCRBY', countersKey, 'missing', missing) end
return { recovered, missing }
