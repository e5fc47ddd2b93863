"""Embeddings: item sequences, Item2vec, graph walks, user vectors, nearest-neighbour indexes."""
