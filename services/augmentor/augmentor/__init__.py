"""The augmentor: 1 original + 7 augmented variants per annotation (``python -m augmentor``)."""
