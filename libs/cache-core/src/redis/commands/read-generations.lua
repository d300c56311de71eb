--[[
  Reads the generation tokens of some list parts, creating the missing ones.

  Why generations: a chunk or page built from a snapshot older than a write must never be stored after that
  write invalidated it. Each part of the list has a generation token that every write replaces. A builder
  reads the tokens *before* it queries Postgres and stores its result only if they are unchanged
  (fill-if-current); pages keep the tokens they were built under and are checked on each read, so one write
  invalidates every cached page overlapping its chunk in O(1), without knowing which pages exist.

  Why atomic: two builders creating a missing token must end up with the same one.

    Input (a variable number of keys):
      KEYS[1..] generation keys

      ARGV[1] a fresh random token base for the missing ones

    Output:
      the tokens, in the order of KEYS
]]
local tokens = {}
for i, key in ipairs(KEYS) do
  local token = redis.call('GET', key)
  if not token then
    token = ARGV[1] .. ':' .. i
    redis.call('SET', key, token)
  end
  tokens[i] = token
end
return tokens
