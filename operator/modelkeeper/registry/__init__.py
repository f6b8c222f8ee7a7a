"""A model registry's vocabulary and client: MLflow's `models:/` URIs and its REST API.

Below the data planes, so that the scoring server's fetch step resolves a `models:/` URI
today and the operator can follow an alias with the same client later.
"""
