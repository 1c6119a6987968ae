"""CSV cell rules: formula neutralising and CP932 encoding with a replacement count."""

from __future__ import annotations

import pytest

from services.search.export import encode_cp932, neutralise


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+81 3", "'+81 3"),
        ("-12", "'-12"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("＝1+2", "'＝1+2"),
        ("山田=太郎", "山田=太郎"),
        ("ー", "ー"),  # the 代替 "no" mark is a katakana long vowel, not a minus
        ("", ""),
        ("2026/06/10", "2026/06/10"),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_cp932_encoding_counts_replacements() -> None:
    assert encode_cp932("山田 太郎") == ("山田 太郎".encode("cp932"), 0)
    data, replaced = encode_cp932("𠮷田 𩸽")
    assert (data.decode("cp932"), replaced) == ("?田 ?", 2)
    # characters with a CP932 twin are mapped, not replaced (〜 − ‖ ¢ £ ¬ —)
    data, replaced = encode_cp932("〜−‖¢£¬—")
    assert replaced == 0 and data.decode("cp932") == "～－∥￠￡￢―"
    assert encode_cp932("髙橋 ①")[1] == 0  # NEC/IBM extensions are in CP932
