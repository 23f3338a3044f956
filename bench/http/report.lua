-- Shared by the wrk scripts here (loaded with dofile from $BENCH_LUA_DIR,
-- which common.sh sets): counts the answers per status in every thread and
-- prints them, the requests/s and the latency percentiles when wrk is done.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}

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
  print(string.format("errors connect=%d read=%d write=%d timeout=%d",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
