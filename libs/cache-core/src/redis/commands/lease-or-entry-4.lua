--[[
  After a miss: the entry if another reader has filled it meanwhile, else the lease to fill it, if free, with the
  record's floor: the highest version whose invalidation reached Redis lately, and whether it was deleted. A row
  loaded from a read replica older than the floor is not current (the replica has not replayed that write yet).

  Why atomic: a reader that checked the entry (empty) and then took the lease in two steps could take the lease
  right after another reader filled the entry and let its lease go, and load the row again for nothing. In one
  step, a reader either sees the fill or holds the only lease; and the floor it gets is at least the version of
  every write acknowledged before it (the write's invalidation left it before the write answered).

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's invalidated-version marker
      KEYS[4] the record's tombstone

      ARGV[1] this reader's lease token
      ARGV[2] lease TTL in ms

    Output:
      { 'hit', entry } the entry is there;
      { 'lease', false, floor version or false, 1 if deleted else 0 } this reader holds the lease;
      { 'held', false, floor version or false, 1 if deleted else 0 } another does
]]
local entryKey = KEYS[1]
local leaseKey = KEYS[2]

local entry = redis.call('GET', entryKey)
if entry then return { 'hit', entry } end
local floor = redis.call('GET', KEYS[3])
local deleted = redis.call('EXISTS', KEYS[4])
if redis.call('SET', leaseKey, ARGV[1], 'PX', ARGV[2], 'NX') then return { 'lease', false, floor, deleted } end
return { 'held', false, floor, deleted }
