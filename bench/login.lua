-- wrk script: compat password logins (m.login.password) for random bench users.
local count = tonumber(os.getenv("USERS"))
local password = os.getenv("PASSWORD")
math.randomseed(os.time())

request = function()
  local user = string.format("bench%06d", math.random(count))
  local body = '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"' .. user ..
    '"},"password":"' .. password .. '"}'
  return wrk.format("POST", "/_matrix/client/v3/login", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d rps=%.1f p50_ms=%.1f p99_ms=%.1f errors=%d non2xx=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
