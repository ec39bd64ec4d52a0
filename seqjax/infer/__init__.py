"""Inference modes, KV-cache generation, the Python API and export."""
