--[[
  A read of an entry with its remaining TTL, for strategies that act before expiry (refresh-ahead's XFetch).

  Why a script: one command and one reply for the two reads, on a single Redis and on a cluster alike, where a
  MULTI costs four commands and a pipeline a client-side object per read. Atomicity is not needed: the TTL only
  decides whether to refresh early.

    Input:
      KEYS[1] the record's entry

    Output:
      { remaining TTL in ms (-2 when there is no entry, -1 when it has no TTL), the entry or nil }
]]
local entryKey = KEYS[1]

return { redis.call('PTTL', entryKey), redis.call('GET', entryKey) }
