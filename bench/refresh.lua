-- wrk: chains of refresh_token grants. Every response carries the next refresh token of its
-- session; each wrk thread keeps the tokens it holds in a queue and sends the oldest. With as
-- many sessions as connections (plus one per thread: wrk calls request() once before the run
-- to check the script, and that token is never sent), every connection always has a token to
-- send, and no token is ever presented twice (which would revoke its session).
-- $BENCH_TOKENS: file with one refresh token per line; $BENCH_CLIENT_ID: the public client.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  rotations, failures = 0, 0
  queue = {}
  local total = tonumber(os.getenv("BENCH_THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if line_number % total == index - 1 then
      table.insert(queue, line)
    end
    line_number = line_number + 1
  end
  client_id = os.getenv("BENCH_CLIENT_ID")
end

function request()
  local token = queue and table.remove(queue, 1)
  if token == nil then
    return wrk.format("GET", "/healthz")
  end
  local body = "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    table.insert(queue, token)
    rotations = rotations + 1
  elseif status ~= 200 then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local rotated, failed = 0, 0
  for _, thread in ipairs(threads) do
    rotated = rotated + thread:get("rotations")
    failed = failed + thread:get("failures")
  end
  io.write(string.format("rotations=%d failures=%d\n", rotated, failed))
end
