"""trussd: a self-hostable, Truss-compatible production LLM serving framework."""

__version__ = "0.1.0"

__all__ = ["__version__"]
