"""Talking to the Kubernetes API server: where it is, and a small typed async client."""
