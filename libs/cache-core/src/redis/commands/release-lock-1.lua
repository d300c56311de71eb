--[[
  Deletes a lock only if it still holds the caller's token.

  Why atomic: a holder that overran its lock's TTL must not release the next holder's lock (GET then DEL from
  the client could delete a lock taken in between).

    Input:
      KEYS[1] the lock

      ARGV[1] the token the caller locked with

    Output:
      1 released, 0 not (or no longer) the caller's
]]
local lockKey = KEYS[1]

if redis.call('GET', lockKey) == ARGV[1] then return redis.call('DEL', lockKey) end
return 0
