"""Objective, pure steps, checkpoints and the training loop."""
