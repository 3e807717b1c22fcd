"""Profiles where they run: Kubernetes, compose, merging shards."""
