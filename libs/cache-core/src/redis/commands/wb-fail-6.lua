#!lua flags=allow-oom
--[[
  Records a change Postgres refused: retry later with exponential backoff and jitter, or dead-letter it after
  `maxAttempts`.

  Why atomic: the attempt count, the retry time and the dead letter must agree, whichever worker failed. An id
  no longer pending (another worker settled it after this one's claim timed out) is left alone.

  Why `allow-oom`: a flush must be able to finish in a full Redis (see wb-claim); a dead letter is one small
  hash field, and the rest only moves state.

    Input:
      KEYS[1] pending
      KEYS[2] attempts (hash: id -> failed flushes)
      KEYS[3] dead letters (hash: id -> JSON)
      KEYS[4] claimed
      KEYS[5] counters (hash: `deadLetteredTotal` counts records moved to the dead letters)
      KEYS[6] accepted

      ARGV[1] id
      ARGV[2] reason (no data, no SQL text)
      ARGV[3] the version that failed
      ARGV[4] max attempts
      ARGV[5] now, in ms
      ARGV[6] first backoff, in ms
      ARGV[7] a random number in [0, 1) for jitter

    Output:
      'dead', 'retry', or 'settled' (not pending any more)
]]
local pendingKey, attemptsKey, deadKey, claimedKey, acceptedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6]
local countersKey = KEYS[5]

local id = ARGV[1]
if not redis.call('ZSCORE', pendingKey, id) then
  redis.call('HDEL', claimedKey, id)
  return 'settled'
end
local attempts = redis.call('HINCRBY', attemptsKey, id, 1)
redis.call('HDEL', claimedKey, id)
if attempts >= tonumber(ARGV[4]) then
  redis.call('HSET', deadKey, id, cjson.encode({
    id = tonumber(id), version = tonumber(ARGV[3]), reason = ARGV[2], attempts = attempts, failedAt = tonumber(ARGV[5])
  }))
  redis.call('ZREM', pendingKey, id)
  redis.call('ZREM', acceptedKey, id)
  redis.call('HDEL', attemptsKey, id)
  redis.call('HINCRBY', countersKey, 'deadLetteredTotal', 1)
  return 'dead'
end
local backoff = math.min(60000, tonumber(ARGV[6]) * 2 ^ (attempts - 1)) * (0.5 + tonumber(ARGV[7]) / 2)
redis.call('ZADD', pendingKey, 'XX', tonumber(ARGV[5]) + backoff, id)
return 'retry'
