"""Metadata, shard formats and grain pipelines."""
