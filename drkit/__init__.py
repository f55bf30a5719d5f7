"""drkit: turn RPO/RTO promises into measured, signed numbers."""

__version__ = "0.1.0"
