-- POST /machine/telemetry with fresh readings on every request, so that each one is really
-- inserted (a resend would only be checked): `wrk -s bench/lua/ingest.lua URL -- KEY RUN ROWS`.
-- Pumps are named BENCH-<RUN>-<thread>-<k>; bench/run.py deletes them afterwards.
dofile("bench/lua/summary.lua")

local PUMPS = 50
local HEADER = "machine,timestamp,Eng_RPM,Cool_T,Oil_P,Oil_L,Recalque,Succao,Bat_V,Char_V\n"
local VALUES = ",1800,82,4.5,78,6,1.1,24.6,27.8\n"
-- 2020-01-01T00:00:00Z: well inside the accepted range, far from the simulated fleet's dates.
local BASE = 1577836800
local run, rows, sent = "0", 5000, 0
inserted = 0

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  wrk.headers["Content-Type"] = "text/csv"
  run = args[2] or run
  rows = tonumber(args[3]) or rows
end

function request()
  local minutes = rows / PUMPS
  local first = sent * minutes
  sent = sent + 1
  local lines = { HEADER }
  for m = 0, minutes - 1 do
    local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", BASE + (first + m) * 60)
    for k = 1, PUMPS do
      lines[#lines + 1] = string.format("BENCH-%s-%d-%d,%s%s", run, id, k, stamp, VALUES)
    end
  end
  return wrk.format("POST", nil, nil, table.concat(lines))
end

function response(status, headers, body)
  local count = body:match('"inserted":%s*(%d+)')
  if count then
    inserted = inserted + tonumber(count)
  end
end
