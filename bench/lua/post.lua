-- One request shape, repeated: `wrk -s bench/lua/post.lua URL -- METHOD BODY_FILE [PUMPS]`.
-- With PUMPS, "{pump}" in the URL becomes a random pump (MOTOBOMBA-001 .. PUMPS) per request,
-- so that the machine endpoints read the whole table rather than one pump's cached pages.
dofile("bench/lua/summary.lua")

local method, body, pumps, path

function init(args)
  method = args[1] or "GET"
  if args[2] and args[2] ~= "-" then
    local file = assert(io.open(args[2], "rb"))
    body = file:read("*a")
    file:close()
  end
  pumps = tonumber(args[3])
  path = wrk.path
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() + (id or 0))
end

function request()
  local target = path
  if pumps then
    target = path:gsub("{pump}", string.format("MOTOBOMBA-%03d", math.random(1, pumps)))
  end
  return wrk.format(method, target, nil, body)
end
