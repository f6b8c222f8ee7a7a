"""Drift monitoring: the statistics, the queries that read live counts, and the verdict.

`statistics`, `queries`, `scoring` and `state` are pure; `observe` and `reference` read
Prometheus and reference profiles. The DriftMonitor controller
(modelkeeper.controller.driftmonitor) ties them together.
"""
