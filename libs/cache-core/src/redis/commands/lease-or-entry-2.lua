--[[
  After a miss: the entry if another reader has filled it meanwhile, else the lease to fill it, if free.

  Why atomic: a reader that checked the entry (empty) and then took the lease in two steps could take the lease
  right after another reader filled the entry and let its lease go, and load the row again for nothing. In one
  step, a reader either sees the fill or holds the only lease.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease

      ARGV[1] this reader's lease token
      ARGV[2] lease TTL in ms

    Output:
      { 'hit', entry } the entry is there; { 'lease' } this reader holds the lease; { 'held' } another does
]]
local entryKey = KEYS[1]
local leaseKey = KEYS[2]

local entry = redis.call('GET', entryKey)
if entry then return { 'hit', entry } end
if redis.call('SET', leaseKey, ARGV[1], 'PX', ARGV[2], 'NX') then return { 'lease' } end
return { 'held' }
