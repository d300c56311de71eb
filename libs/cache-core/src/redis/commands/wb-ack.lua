#!lua flags=allow-oom
--[[
  Acknowledges flushed changes, after Postgres committed them.

  Why atomic, and version-checked: a change is done only if the row in Redis is still the version that was
  written; then it leaves the log and its row may expire (or, with Redis short of memory, goes at once: Postgres
  has it), and the record's claim on its unique value leaves the claims hash (Postgres's unique index holds it
  now; for a minute a key remembers the owner, for accepts that asked Postgres just before this flush
  committed). If a newer change arrived meanwhile, the id stays pending and is flushed again at once. A pending id
  with neither row nor tombstone lost its change before it reached Postgres (evicted, flushed, a failover to a
  replica that lacked it): it leaves the log and is counted as missing, never as settled.

  Why `allow-oom`: this is what frees a full Redis (see wb-claim); it deletes and shortens, and grows nothing
  but two counters.

    Input (a variable number of keys):
      KEYS[1] pending
      KEYS[2] accepted
      KEYS[3] attempts
      KEYS[4] claimed
      KEYS[5] counters (hash)
      KEYS[6] unique claims (hash: unique value -> owning id)
      KEYS[7], KEYS[8], ... for each id: its entry, its tombstone, and its unique value's flushed-claim key

      ARGV[1] the entry TTL once flushed, in ms (0: delete the entry now)
      ARGV[2] the tombstone TTL once flushed, in ms
      ARGV[3] now, in ms
      ARGV[4] rows this flush wrote to Postgres (counted as one flush when more than 0)
      ARGV[5] now, as an ISO date (the last flush)
      ARGV[6] how long a flushed-claim key is kept, in ms
      ARGV[7], ARGV[8], ... for each id: the id, the version written (-1: nothing was written), and its unique
        value ('' for none)

    Output:
      { records settled, records found missing }
]]
--- @include "version-of"
local pendingKey, acceptedKey, attemptsKey, claimedKey, countersKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uniqueKey = KEYS[6]

local now = ARGV[3]
local count = (#ARGV - 6) / 3
local settled, missing = 0, 0
for i = 1, count do
  local id, version, unique = ARGV[4 + 3 * i], tonumber(ARGV[5 + 3 * i]), ARGV[6 + 3 * i]
  local entry, tomb, flushedClaim = KEYS[4 + 3 * i], KEYS[5 + 3 * i], KEYS[6 + 3 * i]
  local current = redis.call('GET', entry) or redis.call('GET', tomb)
  redis.call('HDEL', claimedKey, id)
  if not current or versionOf(current) == version then
    local removed = redis.call('ZREM', pendingKey, id)
    redis.call('ZREM', acceptedKey, id)
    redis.call('HDEL', attemptsKey, id)
    if not current then
      missing = missing + removed
    else
      settled = settled + removed
      if unique ~= '' and redis.call('HGET', uniqueKey, unique) == id then
        redis.call('HDEL', uniqueKey, unique)
        redis.call('SET', flushedClaim, id, 'PX', ARGV[6])
      end
      if redis.call('EXISTS', entry) == 1 then
        if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', entry, ARGV[1]) else redis.call('DEL', entry) end
      else
        redis.call('PEXPIRE', tomb, ARGV[2])
      end
    end
  else
    redis.call('ZADD', pendingKey, 'XX', now, id)
  end
end
local written = tonumber(ARGV[4])
if written > 0 then
  redis.call('HINCRBY', countersKey, 'dbFlushes', 1)
  redis.call('HINCRBY', countersKey, 'flushedRows', written)
  redis.call('HSET', countersKey, 'lastFlush', ARGV[5])
end
if settled > 0 then redis.call('HINCRBY', countersKey, 'settled', settled) end
if missing > 0 then redis.call('HINCRBY', countersKey, 'missing', missing) end
return { settled, missing }
