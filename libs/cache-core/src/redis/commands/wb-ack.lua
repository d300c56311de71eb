--[[
  Acknowledges flushed changes, after Postgres committed them.

  Why atomic, and version-checked: a change is done only if the row in Redis is still the version that was
  written; then it leaves the log and its row may expire. If a newer change arrived meanwhile, the id stays
  pending and is flushed again at once. An id with neither row nor tombstone has nothing left to flush.

    Input (a variable number of keys):
      KEYS[1] pending
      KEYS[2] accepted
      KEYS[3] attempts
      KEYS[4] claimed
      KEYS[5], KEYS[6], ... for each id: its entry, then its tombstone

      ARGV[1] the entry TTL once flushed, in ms
      ARGV[2] the tombstone TTL once flushed, in ms
      ARGV[3] now, in ms
      ARGV[4], ARGV[5], ... for each id: the id, then the version written

    Output:
      how many ids were acknowledged or sent back
]]
--- @include "version-of"
local pendingKey, acceptedKey, attemptsKey, claimedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local now = ARGV[3]
local count = (#ARGV - 3) / 2
for i = 1, count do
  local id, version = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])
  local entry, tomb = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local current = redis.call('GET', entry) or redis.call('GET', tomb)
  redis.call('HDEL', claimedKey, id)
  if not current or versionOf(current) == version then
    redis.call('ZREM', pendingKey, id)
    redis.call('ZREM', acceptedKey, id)
    redis.call('HDEL', attemptsKey, id)
    if redis.call('EXISTS', entry) == 1 then
      redis.call('PEXPIRE', entry, ARGV[1])
    elseif current then
      redis.call('PEXPIRE', tomb, ARGV[2])
    end
  else
    redis.call('ZADD', pendingKey, now, id)
  end
end
return count
