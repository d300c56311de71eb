--[[
  A writer's own invalidation, right after its commit: deletes the entry and voids any reader's lease, and
  marks the version as invalidated for a while, so the same change arriving later from the invalidation outbox
  (invalidate-older) leaves alone what readers have done since.

  Why atomic: the marker must never say "invalidated" for a delete that did not happen.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's invalidated-version marker

      ARGV[1] the record's new version
      ARGV[2] the marker's TTL in ms

    Output:
      the number of keys deleted
]]
local deleted = redis.call('DEL', KEYS[1], KEYS[2])
local marked = tonumber(redis.call('GET', KEYS[3]) or '0')
if not marked or marked < tonumber(ARGV[1]) then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2]) end
return deleted
