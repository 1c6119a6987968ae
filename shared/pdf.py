"""Japanese PDF output: the IPAex Gothic font embedded, so forms print the same on any machine.

The font file ships in the PyPI package `japanize-matplotlib` (IPA Font License); we locate it without
importing that package (which would import matplotlib).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

JAPANESE_FONT = "IPAexGothic"


def japanese_font_path() -> Path:
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("japanize-matplotlib (which carries the IPAex Gothic font) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        raise RuntimeError(f"Japanese font not found at {path}")
    return path


@cache
def register_japanese_font() -> str:
    """Register the TrueType font with reportlab (embedded as a subset in every PDF); returns its name."""
    pdfmetrics.registerFont(TTFont(JAPANESE_FONT, str(japanese_font_path())))
    return JAPANESE_FONT
