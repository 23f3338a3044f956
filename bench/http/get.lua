-- GET the URL's path, with `Authorization: Bearer $TOKEN` when TOKEN is
-- set; answers reported by report.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

function init(args)
  statuses = {}
  local token = os.getenv("TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end
