"""Training: the validated run configuration, the trainer and its helpers."""
