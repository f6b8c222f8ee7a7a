-- Argo CD health of a Modelkeeper Model (modelkeeper.io/v1alpha1), from status.stage and the
-- Validated condition. resource.customizations.health.modelkeeper.io_Model; see docs/gitops.md.
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
if status == nil or status.stage == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation
  return hs
end
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Validated" and condition.status == "False" then
    hs.status = "Degraded"
    hs.message = "not validated: " .. given(condition.message, condition.reason)
    return hs
  end
end
local health = {
  Registered = "Healthy",
  Evaluating = "Progressing",
  Rejected = "Degraded",
  Candidate = "Healthy",
  Production = "Healthy",
  Retired = "Healthy",
}
hs.status = health[status.stage] or "Progressing"
hs.message = status.stage
if status.evaluation ~= nil and given(status.evaluation.message) ~= nil then
  hs.message = hs.message .. ": " .. status.evaluation.message
elseif status.approved == false then
  hs.message = hs.message .. ", not approved"
end
return hs
