"""Azaion edge inference (``python -m inference --help``)."""
