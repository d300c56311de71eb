--[[
  Invalidates list parts: each one's data goes and its generation moves on.

  Why atomic: a builder must never see the new generation while the old data is still there (it would keep
  serving it), nor the data gone while the old generation still lets a stale build be stored.

    Input (a variable number of keys):
      KEYS[1], KEYS[2], ... pairs of (generation, data)

      ARGV[1] the new token

    Output:
      1
]]
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[1])
  redis.call('DEL', KEYS[i + 1])
end
return 1
