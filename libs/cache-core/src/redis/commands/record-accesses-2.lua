--[[
  Adds a batch of read counts to the hot set, with forward decay, and trims it to its capacity.

  Why forward decay: a key's score is the sum of e^(λ·(t − t0)) over its accesses, so the score at any later
  time is that sum times e^(−λ·(now − t0)) for every key alike: ranking needs no per-key update, and a key that
  stops being read sinks by itself (halving every half-life). When the exponent grows large, every score is
  rescaled and t0 moved to now, in the same script, so nothing overflows. Trimming to the top `capacity` after
  each increment keeps memory bounded under a flood of distinct ids.

  Why atomic: the rescale and the increments must see the same t0, or one batch is weighted against another's.

  Both keys expire a while after the last read (`ttl`, twenty half-lives: every score has sunk a millionfold
  by then), so no key of a cache-only pattern lives without a TTL and a volatile-* policy may evict any of them.

    Input:
      KEYS[1] the hot set (sorted set: id -> decayed score)
      KEYS[2] its metadata (hash: t0)

      ARGV[1] now, in seconds
      ARGV[2] lambda (ln 2 / half-life)
      ARGV[3] capacity
      ARGV[4] ttl of both keys, in ms
      ARGV[5..] pairs of id, count

    Output:
      1
]]
local hotKey = KEYS[1]
local metaKey = KEYS[2]

local now = tonumber(ARGV[1])
local lambda = tonumber(ARGV[2])
local t0 = tonumber(redis.call('HGET', metaKey, 't0'))
if not t0 then
  t0 = now
  redis.call('HSET', metaKey, 't0', t0)
end
local exponent = (now - t0) * lambda
if exponent > 30 then
  redis.call('ZUNIONSTORE', hotKey, 1, hotKey, 'WEIGHTS', math.exp(-exponent))
  t0 = now
  redis.call('HSET', metaKey, 't0', t0)
  exponent = 0
end
local weight = math.exp(exponent)
for i = 5, #ARGV, 2 do
  redis.call('ZINCRBY', hotKey, weight * tonumber(ARGV[i + 1]), ARGV[i])
end
local excess = redis.call('ZCARD', hotKey) - tonumber(ARGV[3])
if excess > 0 then redis.call('ZREMRANGEBYRANK', hotKey, 0, excess - 1) end
redis.call('PEXPIRE', hotKey, ARGV[4])
redis.call('PEXPIRE', metaKey, ARGV[4])
return 1
