"""The router: Modelkeeper's own data plane for clusters without a Gateway API implementation.

It splits inference between the stable and the canary backend by weight, mirrors a
share of requests to a shadow and compares its predictions with the primary's, and
balances across the ready endpoints it reads from EndpointSlices. docs/router.md
describes the routing config, the endpoints and the metrics.

The pure decisions (config, weighted choice, mirror sampling, prediction comparison,
endpoint selection, feedback answers, routes) and the messages live in modules with no
I/O; `server` (clients), `upstream` (backends), `proxy`, `sources`, `watch`, `reload` and
`command` do the talking.
"""
