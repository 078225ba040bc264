"""The trainer: from processed images to a published, protected model (``python -m trainer``)."""
