"""Tests that need neither an engine nor root: `pytest tests/unit` runs anywhere in seconds."""
