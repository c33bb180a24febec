"""Training a recognition backbone: data, optimisation, checkpoints, validation."""
