"""MovieLens data: loaders for every official layout, downloads, synthetic data, summaries."""
