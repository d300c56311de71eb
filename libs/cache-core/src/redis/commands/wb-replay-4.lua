--[[
  Sends dead letters back into the log to be flushed again.

  Why atomic: a dead letter is either replayed (pending again) or still dead, never both or neither.

    Input:
      KEYS[1] pending
      KEYS[2] accepted
      KEYS[3] dead letters
      KEYS[4] counters (hash: `replayed` counts records sent back)

      ARGV[1] now, in ms
      ARGV[2..] the ids

    Output:
      how many were replayed
]]
local pendingKey, acceptedKey, deadKey, countersKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local replayed = 0
for i = 2, #ARGV do
  if redis.call('HDEL', deadKey, ARGV[i]) == 1 then
    redis.call('HINCRBY', countersKey, 'replayed', redis.call('ZADD', pendingKey, ARGV[1], ARGV[i]))
    redis.call('ZADD', acceptedKey, 'NX', ARGV[1], ARGV[i])
    replayed = replayed + 1
  end
end
return replayed
