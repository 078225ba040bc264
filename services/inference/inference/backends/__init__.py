"""Inference backends: one small interface (:class:`inference.backends.base.Backend`), one module per SDK."""
