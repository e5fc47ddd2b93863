"""The nearline stream processor: events -> fresh user features in the online store."""
