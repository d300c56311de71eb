--[[
  Stores a record unless the cache already holds the same or a newer version, or the record was deleted;
  voids any reader's lease either way, and marks the version as invalidated for a while (see invalidate-older).

  Why atomic: two writers commit v2 then v3, but their cache writes can arrive v3 then v2. Storing only when
  the cached version is older makes the arrival order irrelevant, and the tombstone stops a late write from
  bringing back a record deleted in the meantime.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's tombstone
      KEYS[4] the record's invalidated-version marker

      ARGV[1] the record as JSON
      ARGV[2] TTL in ms
      ARGV[3] the record's version
      ARGV[4] the marker's TTL in ms

    Output:
      1 stored, 0 older than what is cached, or deleted
]]
--- @include "version-of"
local entryKey = KEYS[1]
local leaseKey = KEYS[2]
local tombstoneKey = KEYS[3]

redis.call('DEL', leaseKey)
local marked = tonumber(redis.call('GET', KEYS[4]) or '0')
if not marked or marked < tonumber(ARGV[3]) then redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4]) end
if redis.call('EXISTS', tombstoneKey) == 1 then return 0 end
local current = redis.call('GET', entryKey)
if current then
  local version = versionOf(current)
  if version and version >= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', entryKey, ARGV[1], 'PX', ARGV[2])
return 1
