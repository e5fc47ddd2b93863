"""Sparrow RecSys in Python: an industrial-style deep-learning movie recommender."""

__version__ = "0.1.0"
