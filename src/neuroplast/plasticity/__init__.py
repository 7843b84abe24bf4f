"""Plasticity: "use it or lose it" (pruning) and "fire together, wire together" (Hebbian learning)."""
