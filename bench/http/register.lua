-- POST /auth/register with a username of its own per request, counting the
-- answers per status in every thread and reporting them (with the worst
-- latency) when wrk is done. env: RUN_ID, unique per wrk invocation.
local run_id = os.getenv("RUN_ID") or tostring(os.time())
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
statuses = {}

function init(args)
  statuses = {}
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"username":"%s_t%d_%d","password":"bench-password-%d"}',
    run_id, tid, counter, counter)
  return wrk.format("POST", "/auth/register",
    {["Content-Type"] = "application/json"}, body)
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
  print(string.format("latency_ms p50=%.1f p90=%.1f p99=%.1f max=%.1f",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  print(string.format("errors connect=%d read=%d write=%d timeout=%d",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
