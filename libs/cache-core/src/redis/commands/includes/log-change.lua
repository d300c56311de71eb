--[[
  Puts an accepted change of `id` in write-behind's log: pending for the flusher (joining the record's change
  already waiting, which counts it as coalesced; if a flush has claimed that one, the record is due again at
  once), first-accepted time kept, a dead letter of an older change of it dropped (this change replaces that
  one), counted. `cachedWrites - coalesced` is how many records entered the pending set: the change log's
  accounting (see `ChangeLog.stats`) adds up on that.

  Neither the row nor any of these keys has a TTL: under `noeviction` or a `volatile-*` policy Redis never drops
  them, which is why write-behind refuses writes under an `allkeys-*` policy (see `WriteAdmission`).
]]
local function logChange(id, now, pendingKey, acceptedKey, claimedKey, deadKey, countersKey)
  if redis.call('ZSCORE', pendingKey, id) then
    redis.call('HINCRBY', countersKey, 'coalesced', 1)
    if redis.call('HEXISTS', claimedKey, id) == 1 then redis.call('ZADD', pendingKey, 'XX', now, id) end
  else
    redis.call('ZADD', pendingKey, now, id)
  end
  redis.call('ZADD', acceptedKey, 'NX', now, id)
  redis.call('HDEL', deadKey, id)
  redis.call('HINCRBY', countersKey, 'cachedWrites', 1)
end
