"""Ranking models: shared blocks, one module per model, the registry."""
