"""Rollout analysis: judge a candidate version from Prometheus.

`templates` renders the checks into PromQL and `judge` turns query results into
verdicts, both pure; `prometheus` runs the queries and `run` ties the three together.
"""
