"""Sluice: a self-hosted Vertex AI Pipelines."""

__version__ = "0.1.0"
