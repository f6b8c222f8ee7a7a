"""Modelkeeper: a Kubernetes operator for a machine-learning model's production life."""

__version__ = "0.1.0"
