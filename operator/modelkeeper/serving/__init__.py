"""The scoring server, `modelkeeper serve`: one model version behind V2 and V1 REST.

Layers, outermost first: `cli` (the command) starts `workers` (processes and
signals), which run `app` (aiohttp; only translates HTTP) over `dataplane` (the
logic: batching, metrics, feedback, payload logging) over `runtime` (the model).
`schema`, `payloads`, `binary`, `batching`, `feedback` and `metrics` hold the pure parts.
docs/serving.md describes the endpoints, settings and model directory.
"""
