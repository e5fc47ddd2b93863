"""Evaluation: offline metrics, reports."""
