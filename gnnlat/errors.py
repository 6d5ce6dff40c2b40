"""The base of every error that means "bad input or an unusable file", not a bug.

The CLI prints these as one line and exits 1; anything else (a bug, torch failing) keeps its
traceback. Each module raises its own subclass, so a caller can tell a bad genotype from a
corrupt predictor file.
"""
from __future__ import annotations


class GnnlatError(Exception):
    """Bad input, a file that cannot be used, or a backend that cannot run here."""
