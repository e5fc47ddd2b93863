"""Offline features: one set of definitions, executed by an engine into a build directory."""
