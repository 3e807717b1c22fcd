"""Profiles: the model, its ceiling (the engine's default), syscall and argument names, runtime steps."""
