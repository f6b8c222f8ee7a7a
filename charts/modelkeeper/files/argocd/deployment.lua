-- Argo CD health of a Modelkeeper Deployment (modelkeeper.io/v1alpha1), from status.phase.
-- resource.customizations.health.modelkeeper.io_Deployment; see docs/gitops.md.
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
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation
  return hs
end
local health = {
  Pending = "Progressing",
  Progressing = "Progressing",
  Paused = "Suspended",
  Healthy = "Healthy",
  Degraded = "Degraded",
  Aborted = "Degraded",
}
hs.status = health[status.phase] or "Progressing"
hs.message = given(status.message, status.phase)
return hs
