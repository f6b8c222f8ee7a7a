-- wrk script: POST JSON bodies read from a file (one per line), in turn.
-- Usage: wrk ... -s post.lua URL -- BODIES_FILE PATH
local bodies = {}
local path = "/"
local next_body = 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  path = args[2]
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[next_body])
end
