"""The api service: JWT login and the store for the small model parts (``python -m api``)."""
