"""Retraining: when a RetrainPolicy starts a run, what the run creates, and what its result makes.

The modules here are pure (no Kubernetes client, no HTTP): `triggers` decides, `workload`
builds and reads the training workload, `result` turns the trainer's report into the
next Model. `modelkeeper.controller.retraining` (with `retrainruns` and `retrainresults`)
does the reading and writing.
"""
