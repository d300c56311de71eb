--[[
  A stored record's version, read from its JSON text without decoding it: Redis's JSON decoder refuses some
  strings JSON.stringify writes (escaped lone surrogates), and one such record must not stop a script. A quote
  inside a JSON string is always escaped, so `"version":` can only be the record's own key.
]]
local function versionOf(json)
  return tonumber(string.match(json, '"version":(%-?%d+)'))
end
