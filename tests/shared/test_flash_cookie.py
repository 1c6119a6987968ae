"""shared.web's flash cookie (issue 16): what `set_flash` writes is what `flash_message` reads back; a
parameter the reader would refuse falls back to the message without it, or sets nothing."""

from __future__ import annotations

import pytest
from fastapi.responses import Response

from shared.web import FLASH_COOKIE, FLASH_MESSAGES, flash_message, set_flash


def _cookie(response: Response) -> str | None:
    for name, value in response.raw_headers:
        if name == b"set-cookie" and value.startswith(f"{FLASH_COOKIE}=".encode()):
            return value.decode().split(";", 1)[0].split("=", 1)[1].strip('"')
    return None


def test_a_message_round_trips_with_its_parameters() -> None:
    cookie = _cookie(set_flash(Response(), "saved_search_saved", name="今月の プリウス"))
    assert flash_message(cookie) == "検索条件「今月の プリウス」を保存しました。"
    assert flash_message(_cookie(set_flash(Response(), "request_approved"))) == "承認が完了しました。"


@pytest.mark.parametrize("name", ["<b>x</b>", "3月〜4月", "https://evil.example/", "長" * 41])
def test_a_parameter_the_reader_refuses_falls_back_or_sets_nothing(name: str) -> None:
    fallback = set_flash(Response(), "saved_search_saved", fallback="saved_search_saved_unnamed", name=name)
    assert flash_message(_cookie(fallback)) == FLASH_MESSAGES["saved_search_saved_unnamed"]
    assert _cookie(set_flash(Response(), "saved_search_saved", name=name)) is None


def test_a_wrong_key_or_parameter_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        set_flash(Response(), "no_such_message")
    with pytest.raises(ValueError):
        set_flash(Response(), "saved_search_saved")  # its {name} is missing
    with pytest.raises(ValueError):
        set_flash(Response(), "saved_search_saved", fallback="saved_search_saved", name="x")  # takes a name
