-- POST /auth/register with a username of its own per request; answers
-- reported by report.lua. env: RUN_ID, unique per wrk invocation.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local run_id = os.getenv("RUN_ID") or tostring(os.time())
local counter = 0

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
