--[[
  A refresh ahead of expiry takes the record's lease (even if a reader holds it: any write before the fill voids
  it, and the reader's own fill then fails harmlessly), with the record's floor: the highest version whose
  invalidation reached Redis lately, and whether it was deleted. The refresh may then load from a read replica and
  keep the row only if it meets the floor, as a miss does (`lease-or-entry-4.lua`).

  Why a script: the floor must be read no earlier than the lease is taken. A write after both voids the lease (so
  the refresh's fill fails); a write before them left its version in the marker, which the floor then holds. One
  round trip, on a single Redis and on a cluster alike (the three keys share a hash slot).

    Input:
      KEYS[1] the entry's lease
      KEYS[2] the record's invalidated-version marker
      KEYS[3] the record's tombstone

      ARGV[1] the refresh's lease token
      ARGV[2] lease TTL in ms

    Output:
      { floor version or false, 1 if deleted else 0 }
]]
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return { redis.call('GET', KEYS[2]), redis.call('EXISTS', KEYS[3]) }
