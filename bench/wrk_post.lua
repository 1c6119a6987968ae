-- wrk script of the returns intake benchmark (bench/returns_bench.py): POST the JSON bodies of a file
-- (one per line) in order, each once, for wrk's duration. wrk is a C load generator: it leaves the
-- cores to the services, where an asyncio/httpx client on the same 2-core machine took 0.35-0.45 of a
-- core.
--
--   wrk -t1 -c8 -d8s -s bench/wrk_post.lua http://127.0.0.1:PORT/api/v1/returns -- bodies.txt 'Bearer …' 202
--
-- Prints `ok=N bad=N first_bad_status=N duration_us=N` at the end. Give more bodies than the duration
-- can use: once they run out the last one is sent again, which the service refuses (counted bad).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- per-thread state; global, because done() reads the counters with thread:get()
bodies, sent, ok, bad, first_bad = {}, 0, 0, 0, 0
expected = 200
headers = {}

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = args[2] }
  expected = tonumber(args[3])
end

function request()
  if sent < #bodies then
    sent = sent + 1
  end
  return wrk.format("POST", nil, headers, bodies[sent])
end

function response(status, _, _)
  if status == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
end

function done(summary, _, _)
  local total_ok, total_bad, first = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
    if first == 0 then
      first = thread:get("first_bad")
    end
  end
  io.write(string.format("ok=%d bad=%d first_bad_status=%d duration_us=%d\n",
    total_ok, total_bad, first, summary.duration))
end
