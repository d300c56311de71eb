--[[
  Accepts a write-behind update in one round trip: the changed fields merged into the row already in Redis,
  the version incremented, the readers' lease voided, the id in the pending log and the change announced, as
  `wb-accept` does. Only for changes that leave the unique value alone and carry no idempotency key; anything
  this script cannot do on its own it answers 'absent', and the caller takes the long way (reads the record,
  then `wb-accept`).

  Why atomic: the merge reads and writes the row in one step, so no other change can come in between (no
  compare-and-set, no retry), and the change and its log entry exist together or not at all.

  The row is a flat JSON object. It is written back with its keys in their stored order (found by scanning its
  text: a quote inside a JSON string is always escaped, so `"key":` can only be a key; such a key is letters,
  digits and `_`, written back as it is), each value encoded by Redis's JSON encoder. A row or change that
  decoder refuses (escaped lone surrogates) is 'absent'.

    Input:
      KEYS[1] the record's entry
      KEYS[2] the entry's lease
      KEYS[3] the record's tombstone
      KEYS[4] pending (sorted set: id -> when eligible to flush)
      KEYS[5] accepted (sorted set: id -> when first accepted, unflushed)
      KEYS[6] counters (hash)
      KEYS[7] claimed (hash: id -> claim time)
      KEYS[8] dead letters (hash: id -> JSON): a change replaces a dead-lettered one, whose letter goes

      ARGV[1] id
      ARGV[2] the fields to set, as a JSON object
      ARGV[3] the versions `If-Match` allows, comma-separated ('' for none), or 'any'
      ARGV[4] now, in ms
      ARGV[5] the channel accepted changes are announced on (`<id>:<version>`)
      ARGV[6] the most records that may be pending (`WRITE_BEHIND_MAX_PENDING`; 0 for no limit)

    Output:
      the new row as JSON, or 'absent' (not in Redis, or not decodable), 'gone' (deleted),
      'precondition' (its version is not one `If-Match` allows), 'full' (as many records as allowed are pending
      and this one is not: nothing changed)
]]
--- @include "log-change"
local entryKey, leaseKey, tombstoneKey = KEYS[1], KEYS[2], KEYS[3]
local pendingKey, acceptedKey, countersKey, claimedKey, deadKey = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local id = ARGV[1]

if redis.call('EXISTS', tombstoneKey) == 1 then return 'gone' end
local current = redis.call('GET', entryKey)
if not current then return 'absent' end
local decodedRow, row = pcall(cjson.decode, current)
local decodedFields, fields = pcall(cjson.decode, ARGV[2])
if not decodedRow or not decodedFields or type(row) ~= 'table' or type(row.version) ~= 'number' then
  return 'absent'
end
if ARGV[3] ~= 'any' then
  local allowed = false
  for version in string.gmatch(ARGV[3], '%d+') do
    if tonumber(version) == row.version then allowed = true end
  end
  if not allowed then return 'precondition' end
end

local maxPending = tonumber(ARGV[6])
if maxPending > 0 and not redis.call('ZSCORE', pendingKey, id) and redis.call('ZCARD', pendingKey) >= maxPending then
  return 'full'
end

for key, value in pairs(fields) do row[key] = value end
row.version = row.version + 1
local parts, seen = {}, {}
for key in string.gmatch(current, '"([%w_]+)":') do
  if not seen[key] then
    seen[key] = true
    parts[#parts + 1] = '"' .. key .. '":' .. cjson.encode(row[key])
  end
end
for key, value in pairs(fields) do
  if not seen[key] then parts[#parts + 1] = cjson.encode(key) .. ':' .. cjson.encode(value) end
end
local next = '{' .. table.concat(parts, ',') .. '}'

redis.call('SET', entryKey, next)
redis.call('DEL', leaseKey)
logChange(id, ARGV[4], pendingKey, acceptedKey, claimedKey, deadKey, countersKey)
redis.call('PUBLISH', ARGV[5], id .. ':' .. row.version)
return next
