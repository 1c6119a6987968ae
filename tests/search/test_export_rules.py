"""CSV cell rules: formula neutralising and CP932 encoding with a replacement count."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.search.config import SearchSettings
from services.search.export import encode_cp932, neutralise
from services.search.main import create_app


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


def test_exports_never_take_the_connections_searches_need(tmp_path: Path) -> None:
    """An export holds a connection for its whole stream: at most the pool's own size of them run at once,
    so the overflow's connections stay for searches and details (test_export_load: 8 of a pool of 10)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/search.db"
    assert create_app(SearchSettings(database_url=url, db_pool_size=3)).state.export_slots.limit == 3
    assert create_app(SearchSettings(database_url=url, db_pool_size=10)).state.export_slots.limit == 8
    assert (
        create_app(
            SearchSettings(database_url=url, db_pool_size=10, csv_export_slots=2)
        ).state.export_slots.limit
        == 2
    )
