"""The custom resources of group modelkeeper.io: typed models, CRDs generated from them, docs.

Pure: no Kubernetes client, no kopf, no HTTP. The operator parses each object it
receives once, with `<Kind>Resource.from_object`, and works on typed values.
"""
