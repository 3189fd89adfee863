-- wrk script for bench/run's counting check: hammers one download URL until a deadline, then
-- asks for a URL that never counts (/healthz) until wrk's own end, so that no download is still
-- in flight when wrk stops (wrk drops its open requests at the end of -d; the server may already
-- have counted them, and the client would never see their 200). Every answer is sorted by what
-- it answers: a download carries Content-Disposition, /healthz does not.
--
--   wrk -t2 -c16 -d<D+grace>s -s bench/count.lua URL -- <deadline> <download path> <size> [<n>]
--
-- <deadline> is a Unix time (seconds, fractions allowed); <size> the clip's length in bytes;
-- with <n>, a thread also stops asking for the clip once it got n answers 410 (the limit was
-- used up: the rest of the run would only measure 410s). After the switch each connection asks
-- for /healthz only every 100 ms, so the grace period does not load the server.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local deadline, download, healthz, size, stop_after_gone

-- Per thread (each wrk thread has its own Lua state); summed in done().
ok = 0        -- 200 with the whole clip
short = 0     -- 200 with a body of another length (a bug)
gone = 0      -- 410: the limit was used up
other = 0     -- any other status from the download URL
after = 0     -- /healthz answers after the deadline (not counted by the server)
last_ok = 0   -- time of the last whole 200 (seconds since the epoch)

function init(args)
  deadline = tonumber(args[1])
  download = wrk.format("GET", args[2])
  healthz = wrk.format("GET", "/healthz")
  size = tonumber(args[3])
  stop_after_gone = tonumber(args[4] or "0")
end

local function hammering()
  if stop_after_gone > 0 and gone >= stop_after_gone then
    return false
  end
  return now() < deadline
end

function request()
  if hammering() then
    return download
  end
  return healthz
end

function delay()
  if hammering() then
    return 0
  end
  return 100
end

function response(status, headers, body)
  local is_download = false
  for name, _ in pairs(headers) do
    if string.lower(name) == "content-disposition" then
      is_download = true
    end
  end
  if status == 200 and not is_download then
    after = after + 1
  elseif status == 200 then
    if #body == size then
      ok = ok + 1
      last_ok = now()
    else
      short = short + 1
    end
  elseif status == 410 then
    gone = gone + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total = { ok = 0, short = 0, gone = 0, other = 0, after = 0, last_ok = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      local value = thread:get(name)
      if name == "last_ok" then
        if value > total.last_ok then
          total.last_ok = value
        end
      else
        total[name] = total[name] + value
      end
    end
  end
  io.write(string.format(
    "COUNT ok=%d short=%d gone=%d other=%d after=%d last_ok=%.3f errors=%d\n",
    total.ok, total.short, total.gone, total.other, total.after, total.last_ok,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout
  ))
end
