--[[
  A read of a record's entry where entries outlive their TTL as grace copies (`CACHE_GRACE_SECONDS`): the entry
  if it is fresh; if it is missing or stale, the lease to fill it (if free), with the stale copy when there is
  one, and the record's floor (as in `lease-or-entry`: the highest version whose invalidation reached Redis
  lately, and whether it was deleted). An entry is stale once its remaining TTL is at most the grace; "absent"
  (`null`) and entries without a TTL (write-behind's) are never stale.

  Why atomic: as `lease-or-entry`, a reader either sees a fill or holds the only lease; and the stale copy it
  gets is the entry as it was when it took the lease, so a write that deletes the entry (and the lease) after
  this step voids the fill, as for any miss.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's invalidated-version marker
      KEYS[4] the record's tombstone

      ARGV[1] this reader's lease token
      ARGV[2] lease TTL in ms
      ARGV[3] the grace, in ms

    Output:
      { 'hit', entry, remaining TTL in ms } the entry is fresh;
      { 'lease', stale entry or false, remaining TTL in ms (-2 when missing), floor or false, deleted (1/0) }
        this reader holds the lease;
      { 'held', stale entry or false, remaining TTL in ms, floor or false, deleted (1/0) } another does
]]
local entryKey = KEYS[1]
local leaseKey = KEYS[2]

local entry = redis.call('GET', entryKey)
local ttl = redis.call('PTTL', entryKey)
if entry and (entry == 'null' or ttl < 0 or ttl > tonumber(ARGV[3])) then return { 'hit', entry, ttl } end
local floor = redis.call('GET', KEYS[3])
local deleted = redis.call('EXISTS', KEYS[4])
if redis.call('SET', leaseKey, ARGV[1], 'PX', ARGV[2], 'NX') then return { 'lease', entry, ttl, floor, deleted } end
return { 'held', entry, ttl, floor, deleted }
