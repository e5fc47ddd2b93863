"""The online store: one interface, a memory and a Redis backend."""
