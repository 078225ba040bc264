"""The ingestor: applies the annotation stream to the data root (``python -m ingestor``)."""
