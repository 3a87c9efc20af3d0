"""Showing user text safely in Markdown (titles, ids, error messages that quote data)."""

from __future__ import annotations

import re

__all__ = ["md_escape"]

PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(text: str) -> str:
    """Backslash-escapes every ASCII punctuation mark, so user text inside Markdown shows literally."""
    return PUNCTUATION.sub(r"\\\1", str(text))
