-- wrk: POST /register as JSON with a fresh email on every request (a per-thread counter under
-- a tag of the run's start time and the thread's number: several runs against one database
-- never collide) and the password in $BENCH_PASSWORD.
local threads = 0
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  threads = threads + 1
  thread:set("tag", string.format("%d-%d", os.time(), threads))
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"u-%s-%d@bench.test","password":"%s"}', tag, counter,
    os.getenv("BENCH_PASSWORD"))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
