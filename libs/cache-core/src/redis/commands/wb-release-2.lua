#!lua flags=allow-oom
--[[
  Puts claimed ids back: Postgres is away, which is not the changes' fault, so no attempt is counted.

  Why atomic: an id must never be unclaimed and not pending, or pending and still claimed. An id no longer
  pending (another worker settled it after this claim timed out) stays settled (`XX`).

  Why `allow-oom`: it only moves state (see wb-claim).

    Input:
      KEYS[1] pending
      KEYS[2] claimed

      ARGV[1] when the ids become eligible again, in ms
      ARGV[2..] the ids

    Output:
      how many ids were put back
]]
local pendingKey = KEYS[1]
local claimedKey = KEYS[2]

for i = 2, #ARGV do
  redis.call('ZADD', pendingKey, 'XX', ARGV[1], ARGV[i])
  redis.call('HDEL', claimedKey, ARGV[i])
end
return #ARGV - 1
