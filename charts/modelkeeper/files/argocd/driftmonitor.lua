-- Argo CD health of a Modelkeeper DriftMonitor (modelkeeper.io/v1alpha1), from status.state.
-- Drifted, Unknown (Prometheus or the reference profile cannot be read) and a quality beyond
-- its bound are Degraded; InsufficientData waits for traffic; Warning stays Healthy.
-- resource.customizations.health.modelkeeper.io_DriftMonitor; see docs/gitops.md.
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
if status == nil or status.state == nil then
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
  OK = "Healthy",
  Warning = "Healthy",
  Drifted = "Degraded",
  InsufficientData = "Progressing",
  Unknown = "Degraded",
}
hs.status = health[status.state] or "Progressing"
hs.message = status.state
if given(status.message) ~= nil then
  hs.message = hs.message .. ": " .. status.message
end
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "PerformanceDegraded" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = "performance degraded: " .. given(condition.message, condition.reason)
  end
end
return hs
