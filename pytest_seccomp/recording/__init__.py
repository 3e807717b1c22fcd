"""What the tracer saw, per container and per test window."""
