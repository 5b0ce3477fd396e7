-- wrk: GET the URL's path, each connection pausing $BENCH_DELAY_MS between requests, so the
-- probe measures latency without adding load of its own.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "10")
function delay()
  return pause
end
