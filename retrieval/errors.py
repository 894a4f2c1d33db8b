"""Retrieval errors. Each subclasses the builtin a caller would naturally catch.

    RetrievalError
    ├── IndexNotFound (KeyError)     no folder or manifest for the name
    ├── IndexMismatch (ValueError)   built with another embedder or dimension
    ├── IndexCorrupt (ValueError)    artifacts missing, unreadable or not matching the checksum
    └── SourceError (ValueError)     a build input is missing, empty or lacks a column
        └── InvalidName              an index or route name that is not one safe path component
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base of every retrieval failure; the message is one line for a person."""

    def __str__(self) -> str:
        # KeyError would otherwise print its message wrapped in quotes.
        return str(self.args[0]) if self.args else ""


class IndexNotFound(RetrievalError, KeyError):
    pass


class IndexMismatch(RetrievalError, ValueError):
    pass


class IndexCorrupt(RetrievalError, ValueError):
    pass


class SourceError(RetrievalError, ValueError):
    pass


class InvalidName(SourceError):
    pass
