"""Embedded key service: a real implementation of the key API (tornado + SQLite)."""

from .app import KeyService, make_app
from .store import KeyServiceError, KeyStore

__all__ = ["KeyService", "KeyServiceError", "KeyStore", "make_app"]
