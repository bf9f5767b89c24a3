"""Pydantic request and response models (``*Create``, ``*Update``, ``*Read``)."""
