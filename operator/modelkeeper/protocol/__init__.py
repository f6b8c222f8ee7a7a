"""The wire formats the scoring server and the router share, below both of them.

`binary` is the Open Inference Protocol's binary tensor data extension: the server
reads and writes it, the router reads it to compare a shadow's answers.
"""
