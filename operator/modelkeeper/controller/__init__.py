"""The operator: Models and Deployments reconciled into running scoring servers.

Pure layers (selection, builders, rollout, status) decide; `handlers` and `reconcile`
read, call them, and write. docs/architecture.md draws the layers.
"""
