"""The online service: the original's API, recall, ranking, experiments, degradation."""
