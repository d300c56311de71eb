--[[
  Stores a record a reader loaded after a miss, if that reader still holds the entry's lease.

  Why atomic: a reader that missed may read the row, lose the CPU, and store it after a writer has committed a
  newer row and invalidated. Every write deletes the lease, so that late fill finds no lease (or another
  reader's) and is dropped: the cache ends up empty or new, never old.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease

      ARGV[1] the lease token the reader took
      ARGV[2] the record as JSON (`null` for "absent")
      ARGV[3] TTL in ms

    Output:
      1 stored, 0 the lease was lost (nothing stored)
]]
local entryKey = KEYS[1]
local leaseKey = KEYS[2]

if redis.call('GET', leaseKey) ~= ARGV[1] then return 0 end
redis.call('DEL', leaseKey)
redis.call('SET', entryKey, ARGV[2], 'PX', ARGV[3])
return 1
