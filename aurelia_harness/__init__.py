"""avharness: a plugin-based harness that evaluates audio-visual LLMs, with and without AURELIA."""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (the one import a plugin needs)
from .types import SCHEMA_VERSION  # noqa: E402

__all__ = ["hookimpl", "SCHEMA_VERSION", "__version__"]
