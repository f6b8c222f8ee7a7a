"""Prometheus, read by the rollout analysis and by drift: its client, settings and PromQL."""
