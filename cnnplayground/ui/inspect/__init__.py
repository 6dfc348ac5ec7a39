"""The Inspect panels: each renders one analysis of :mod:`cnnplayground.inspect` on a model snapshot."""
