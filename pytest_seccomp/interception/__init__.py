"""The engine's traffic: the proxy every client talks through, the engine's facts and events."""
