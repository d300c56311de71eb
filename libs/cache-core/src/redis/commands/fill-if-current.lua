--[[
  Stores a built list part only if none of the generations it was built under has moved since.

  Why atomic: a write that lands between the check and the store would otherwise be hidden by a part built
  before it (see read-generations.lua).

    Input (a variable number of keys):
      KEYS[1] the part to store
      KEYS[2..] the generation keys it depends on

      ARGV[1] the value
      ARGV[2] TTL in ms
      ARGV[3..] the tokens read before the build, in the order of KEYS[2..]

    Output:
      1 stored, 0 a generation moved (nothing stored)
]]
local targetKey = KEYS[1]

for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i + 1] then return 0 end
end
redis.call('SET', targetKey, ARGV[1], 'PX', ARGV[2])
return 1
