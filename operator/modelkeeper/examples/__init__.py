"""Examples that ship with the package, such as the trainer of `modelkeeper train-example`."""
