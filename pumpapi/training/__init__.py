"""Training of the model families on simulated fleets (needs the `train` extra; never served)."""
