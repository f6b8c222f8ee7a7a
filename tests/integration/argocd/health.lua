-- Runs one Argo CD health script as Argo CD does: the object in the global `obj`, the
-- script's returned table read. Usage: lua5.4 health.lua SCRIPT OBJECT, where OBJECT is a Lua
-- file returning the object as a table. Prints the status, a tab, and the message.
obj = dofile(arg[2])
local hs = dofile(arg[1])
io.write(tostring(hs.status), "\t", tostring(hs.message), "\n")
