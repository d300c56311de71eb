--[[
  Applies one committed change from the invalidation outbox: drops the cached entry unless it already holds the
  change's version or a newer one, voids any reader's lease, and for a deletion leaves a tombstone (unless one
  is there: write-behind keeps its own). Does nothing when the change (or a later one) was already applied here
  (the marker left by the writer's own invalidation or by an earlier apply; for a deletion, the tombstone): a
  lease taken since then was taken after the commit, so its fill is current and must not be voided, and what
  else derives from the record (the blog's list chunks) need not be invalidated again.

  Why atomic: the outbox is applied late and by any instance, possibly after a newer version was cached (by
  write-through, write-behind or a fill that read the newer row). Comparing and deleting in one step means a
  late invalidation never drops a newer entry, and an older entry never survives it.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's tombstone
      KEYS[4] the record's invalidated-version marker

      ARGV[1] the change's version (for a deletion: the deleted row's version + 1)
      ARGV[2] 'D' for a deletion, else 'I' or 'U'
      ARGV[3] the tombstone's TTL in ms
      ARGV[4] the marker's TTL in ms

    Output:
      1 applied now, 0 already applied
]]
--- @include "version-of"
local entryKey = KEYS[1]
local leaseKey = KEYS[2]
local tombstoneKey = KEYS[3]
local markerKey = KEYS[4]
local changed = tonumber(ARGV[1])

local applied = tonumber(redis.call('GET', markerKey) or '0')
if applied and applied >= changed then return 0 end
if ARGV[2] == 'D' and redis.call('EXISTS', tombstoneKey) == 1 then return 0 end
redis.call('SET', markerKey, ARGV[1], 'PX', ARGV[4])
redis.call('DEL', leaseKey)
if ARGV[2] == 'D' then redis.call('SET', tombstoneKey, '1', 'PX', ARGV[3], 'NX') end
local current = redis.call('GET', entryKey)
if current then
  local version = versionOf(current)
  if not version or version < changed then redis.call('DEL', entryKey) end
end
return 1
