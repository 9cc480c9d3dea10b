"""Error hierarchy. Messages are written for the person reading them."""

from __future__ import annotations


class RAGError(Exception):
    """Base class for every error the project raises on purpose."""


class ConfigError(RAGError):
    """A setting is missing or invalid."""


class IngestError(RAGError):
    """A file could not be ingested. The message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):
        # Parser worker processes send this error back through a pipe (pickle).
        return (type(self), (self.path, self.reason))


class StoreError(RAGError):
    """The data directory is unusable (wrong embedding model, locked, corrupt)."""


class IndexMismatchError(StoreError):
    """The data directory was built with another embedding model."""


class LockedError(StoreError):
    """Another process holds the ingestion lock on the data directory."""


class ModelError(RAGError):
    """A model could not be found or loaded."""


class GeneratorError(RAGError):
    """The answer generator failed (server down, wrong model name, ...)."""


class EvalError(RAGError):
    """A question file is malformed."""
