-- POST the form in $BODY to the path given as the URL, with
-- `Authorization: Basic $BASIC`, counting the answers per status and
-- reporting them with requests/s and latency percentiles.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

statuses = {}

function init(args)
  statuses = {}
  wrk.method = "POST"
  wrk.body = os.getenv("BODY") or ""
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  local basic = os.getenv("BASIC")
  if basic and basic ~= "" then
    wrk.headers["Authorization"] = "Basic " .. basic
  end
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      total[status] = (total[status] or 0) + n
    end
  end
  local line = "statuses"
  for status, n in pairs(total) do
    line = line .. string.format(" %s=%d", status, n)
  end
  print(line)
  print(string.format("requests_per_second %.0f", summary.requests / (summary.duration / 1e6)))
  print(string.format("latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
