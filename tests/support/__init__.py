"""What tests of every tier share: one place for each tool.

- `objects`: manifests of the four modelkeeper.io kinds (and the test schema and approval).
- `models`: model directories trained here (a constant, a failing one, iris and diabetes).
- `kube`: reading and waiting on objects through the `kubectl` fixture, and their Events.
- `watch`: pollers on a thread; `StatusWatch` records every change of an object's status.
- `traffic`: V2 inference requests (one body builder, one POST), `SteadyTraffic`, `RouterWatch`.
- `operator`: `modelkeeper run` as its own ServiceAccount, started and stopped by PID.

The ground itself (control plane, node, Prometheus) lives in `tests/ground`.
"""
