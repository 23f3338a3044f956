-- POST the form in $BODY to the URL's path, with `Authorization: Basic
-- $BASIC` when BASIC is set; answers reported by report.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

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
