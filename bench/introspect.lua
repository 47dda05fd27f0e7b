-- wrk script: POST /oauth2/introspect as Synapse does, with a random token from TOKENS_FILE.
local tokens = {}
local secret = os.getenv("SHARED_SECRET")
for line in io.lines(os.getenv("TOKENS_FILE")) do
  tokens[#tokens + 1] = line
end
math.randomseed(os.time())

-- PAUSE_MS set: each connection waits that long between its requests, so that the load is a
-- steady rate (about connections / (PAUSE_MS + latency) per second) instead of as fast as the
-- server answers.
local pause = tonumber(os.getenv("PAUSE_MS") or "")
if pause then
  delay = function()
    return pause
  end
end

request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("POST", "/oauth2/introspect", {
    ["Authorization"] = "Bearer " .. secret,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
    ["X-MAS-Supports-Device-Id"] = "1",
  }, "token=" .. token .. "&token_type_hint=access_token")
end

-- Every answer must say the token is active; each thread counts those that do not, and `done`
-- (which runs in the main Lua state) collects the threads' counts.
inactive = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"active":true', 1, true) then
    inactive = inactive + 1
  end
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end

done = function(summary, latency, requests)
  local not_active = 0
  for _, thread in ipairs(threads) do
    not_active = not_active + thread:get("inactive")
  end
  io.write(string.format("RESULT requests=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d not_active=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    not_active))
end
