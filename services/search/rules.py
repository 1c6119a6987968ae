"""Pure rules of the customer list (no I/O)."""

from __future__ import annotations

import re
import unicodedata

import jaconv

_IGNORED = re.compile(r"[\s\-‐‑‒–—―－・･]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = jaconv.hira2kata(text)
    return text.casefold()


def normalise_name(text: str) -> str:
    """Forgiving form of a name: NFKC, width folded, hiragana→katakana, spaces and ・ removed."""
    return re.sub(r"[\s・･]+", "", _fold(text))


def normalise_plate(text: str) -> str:
    """Forgiving form of a plate: as names, and hyphens ignored too."""
    return _IGNORED.sub("", _fold(text))
