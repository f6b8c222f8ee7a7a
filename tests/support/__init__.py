"""What tests of every tier share: one place for each tool.

- `objects`: manifests of the four modelkeeper.io kinds (and the test schema and approval).
- `models`: model directories trained here (a constant, a failing one, iris and diabetes).
- `kube`: reading objects through the `kubectl` fixture, waiting on them (one watch each),
  and their Events.
- `watch`: `StatusWatch` records every change of an object's status; `Poller`; `wall_clock`.
- `traffic`: V2 inference and feedback requests (one body builder, one POST), `SteadyTraffic`,
  `RouterWatch`.
- `operator`: `modelkeeper run` as its own ServiceAccount, started and stopped by PID, and
  `OperatorSlot`, the one the e2e tier shares.
- `chart`, `dashboards`: the rendered chart; the dashboards' queries.

The ground itself (control plane, node, Prometheus) lives in `tests/ground`. A test module
imports from here and from `tests/ground`, never another test module's names.
"""
