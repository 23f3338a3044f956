-- POST /auth/login as $BENCH_USERNAME with $BENCH_PASSWORD; answers
-- reported by report.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

function init(args)
  statuses = {}
  wrk.method = "POST"
  wrk.body = string.format('{"username":"%s","password":"%s"}',
    os.getenv("BENCH_USERNAME"), os.getenv("BENCH_PASSWORD"))
  wrk.headers["Content-Type"] = "application/json"
end
