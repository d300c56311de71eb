--[[
  Puts an accepted change of `id` in write-behind's log: pending for the flusher (joining a change already
  waiting, unless a flush has claimed that one), first-accepted time kept, a dead letter of an older change of it dropped (this change replaces that one), counted.
]]
local function logChange(id, now, pendingKey, acceptedKey, claimedKey, deadKey, countersKey)
  if redis.call('ZSCORE', pendingKey, id) and redis.call('HEXISTS', claimedKey, id) == 0 then
    redis.call('HINCRBY', countersKey, 'coalesced', 1)
  else
    redis.call('ZADD', pendingKey, now, id)
  end
  redis.call('ZADD', acceptedKey, 'NX', now, id)
  redis.call('HDEL', deadKey, id)
  redis.call('HINCRBY', countersKey, 'cachedWrites', 1)
end
