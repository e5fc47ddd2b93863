"""Nearest-neighbour indexes over item vectors (exact, LSH, HNSW) behind one interface."""
