--[[
  Stores a record unless the cache already holds the same or a newer version, or the record was deleted;
  voids any reader's lease either way.

  Why atomic: two writers commit v2 then v3, but their cache writes can arrive v3 then v2. Storing only when
  the cached version is older makes the arrival order irrelevant, and the tombstone stops a late write from
  bringing back a record deleted in the meantime.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's tombstone

      ARGV[1] the record as JSON
      ARGV[2] TTL in ms
      ARGV[3] the record's version

    Output:
      1 stored, 0 older than what is cached, or deleted
]]
--- @include "version-of"
local entryKey = KEYS[1]
local leaseKey = KEYS[2]
local tombstoneKey = KEYS[3]

redis.call('DEL', leaseKey)
if redis.call('EXISTS', tombstoneKey) == 1 then return 0 end
local current = redis.call('GET', entryKey)
if current then
  local version = versionOf(current)
  if version and version >= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', entryKey, ARGV[1], 'PX', ARGV[2])
return 1
