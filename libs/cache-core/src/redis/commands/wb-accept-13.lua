--[[
  Accepts one write-behind change: the new row (or tombstone) with no TTL, the unique-key claim, the readers'
  lease voided, the id added to the pending log the flusher works from, with an idempotency key the answer, and
  the change announced to every instance's near cache (published inside the script, so before the writer hears
  back).

  Why atomic: an acknowledged change must be durable and complete, or absent. Either all of it happens or none,
  so a change and its idempotent answer exist together or not at all. `expected` is the version the caller
  based the change on: a different current version means another change won the race (compare-and-set), and
  the caller retries on top of it; `If-Match` relies on this.

    Input:
      KEYS[1]  the record's entry
      KEYS[2]  the entry's lease
      KEYS[3]  the record's tombstone
      KEYS[4]  pending (sorted set: id -> when eligible to flush)
      KEYS[5]  accepted (sorted set: id -> when first accepted, unflushed)
      KEYS[6]  unique claims (hash: unique value -> owning id, or '-' once released)
      KEYS[7]  counters (hash)
      KEYS[8]  claimed (hash: id -> claim time)
      KEYS[9]  the entry of the id Postgres says owns the unique value (not read; named with its tombstone)
      KEYS[10] that owner's tombstone
      KEYS[11] dead letters (hash: id -> JSON): a change replaces a dead-lettered one, whose letter goes
      KEYS[12] the idempotency record (a placeholder key when there is none)
      KEYS[13] who held the new unique value until its record was flushed (see wb-ack)

      ARGV[1]  id
      ARGV[2]  'put' or 'delete'
      ARGV[3]  the row, or the tombstone, as JSON
      ARGV[4]  the version the change was based on (0 for a new record)
      ARGV[5]  the record's new unique value, or ''
      ARGV[6]  its previous unique value, or ''
      ARGV[7]  the id that holds the new unique value in Postgres, or ''
      ARGV[8]  now, in ms
      ARGV[9]  the idempotent answer as JSON, or ''
      ARGV[10] the answer's TTL in ms
      ARGV[11] the channel accepted changes are announced on (`<id>:<version>`, `:D` added for a deletion)
      ARGV[12] the most records that may be pending (`WRITE_BEHIND_MAX_PENDING`; 0 for no limit)

    Output:
      'ok', 'retry' (another change won), 'conflict' (unique value taken), 'gone' (deleted),
      'duplicate' (the idempotency key already has an answer; nothing changed), 'full' (as many records as
      allowed are pending and this one is not: nothing changed)
]]
--- @include "version-of"
--- @include "log-change"
local entryKey, leaseKey, tombstoneKey = KEYS[1], KEYS[2], KEYS[3]
local pendingKey, acceptedKey, uniqueKey, countersKey, claimedKey = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ownerTombstoneKey, deadKey, answerKey = KEYS[10], KEYS[11], KEYS[12]

local id = ARGV[1]
if ARGV[9] ~= '' and redis.call('EXISTS', answerKey) == 1 then return 'duplicate' end
if redis.call('EXISTS', tombstoneKey) == 1 then return 'gone' end
local current = redis.call('GET', entryKey)
if current and versionOf(current) ~= tonumber(ARGV[4]) then return 'retry' end
local maxPending = tonumber(ARGV[12])
if maxPending > 0 and not redis.call('ZSCORE', pendingKey, id) and redis.call('ZCARD', pendingKey) >= maxPending then
  return 'full'
end
local unique, previous, pgOwner = ARGV[5], ARGV[6], ARGV[7]
if unique ~= '' then
  local holder = redis.call('HGET', uniqueKey, unique)
  if holder and holder ~= '-' and holder ~= id then return 'conflict' end
  -- Postgres's owner still holds it unless write-behind already deleted that owner (its tombstone).
  if not holder and pgOwner ~= '' and pgOwner ~= id and redis.call('EXISTS', ownerTombstoneKey) == 0 then
    return 'conflict'
  end
  -- Released from the hash by a flush after the caller asked Postgres for the owner: Postgres has it now.
  local flushedOwner = not holder and redis.call('GET', KEYS[13])
  if flushedOwner and flushedOwner ~= id and not (flushedOwner == pgOwner and redis.call('EXISTS', ownerTombstoneKey) == 1) then
    return 'conflict'
  end
  redis.call('HSET', uniqueKey, unique, id)
end
if previous ~= '' and previous ~= unique and redis.call('HGET', uniqueKey, previous) == id then
  redis.call('HSET', uniqueKey, previous, '-')
end
if ARGV[2] == 'put' then
  redis.call('SET', entryKey, ARGV[3])
else
  redis.call('DEL', entryKey)
  redis.call('SET', tombstoneKey, ARGV[3])
end
redis.call('DEL', leaseKey)
logChange(id, ARGV[8], pendingKey, acceptedKey, claimedKey, deadKey, countersKey)
if ARGV[9] ~= '' then redis.call('SET', answerKey, ARGV[9], 'PX', ARGV[10]) end
redis.call('PUBLISH', ARGV[11], id .. ':' .. versionOf(ARGV[3]) .. (ARGV[2] == 'delete' and ':D' or ''))
return 'ok'
