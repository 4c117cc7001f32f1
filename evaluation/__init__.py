"""Evaluation: what a piece of audio shows (tempo, key, drums, structure,
continuity, fidelity, text agreement) and how fast the mesh made it."""
