"""The kubectl plugin, `kubectl modelkeeper`: status and controls for people at a terminal.

A package of its own because it is a separate program: it ships as the console script
`kubectl-modelkeeper` (`main`), takes from the operator only the typed API, the Kubernetes
client and a few pure decisions (labels, pod states, the router's config), and must start
without kopf or any data-science library. Its modules are named by job: `main` builds the
command line, `cluster` connects and reports failures, `status`, `controls` and `inspect` are
the commands, `tree`, `views` and `plans` decide what they print or write, without a cluster,
and `terminal` holds how every table, colour and age looks.
"""
