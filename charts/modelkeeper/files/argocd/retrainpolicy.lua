-- Argo CD health of a Modelkeeper RetrainPolicy (modelkeeper.io/v1alpha1): Degraded when the
-- policy is not Ready or its latest finished run Failed, Progressing while a run goes on.
-- A Rejected run is the gate doing its job, so it stays Healthy.
-- resource.customizations.health.modelkeeper.io_RetrainPolicy; see docs/gitops.md.
hs = {}
-- A field the operator leaves empty ("") reads as not given.
local function given(text, fallback)
  if text == nil or text == "" then
    return fallback
  end
  return text
end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation
local ready = nil
for _, condition in ipairs((status and status.conditions) or {}) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if status == nil or ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation
  return hs
end
if ready.status ~= "True" then
  hs.status = "Degraded"
  hs.message = "not ready: " .. given(ready.message, ready.reason)
  return hs
end
local active = status.active or {}
if #active > 0 then
  hs.status = "Progressing"
  hs.message = "run " .. active[1].name .. " is running"
  return hs
end
local latest = (status.history or {})[1]
if latest ~= nil and latest.outcome == "Failed" then
  hs.status = "Degraded"
  hs.message = "run " .. latest.name .. " failed: " .. given(latest.message, given(latest.reason, "no message"))
  return hs
end
hs.status = "Healthy"
if latest ~= nil then
  hs.message = "last run " .. latest.name .. ": " .. latest.outcome
else
  hs.message = "no runs yet"
end
return hs
