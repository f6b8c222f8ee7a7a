"""Drift monitoring: the statistics, the queries that read live counts, and the verdict.

`statistics`, `queries` and `evaluate` are pure; `observe` and `reference` read
Prometheus and reference profiles. The DriftMonitor controller
(modelkeeper.controller.driftmonitor) ties them together.
"""
