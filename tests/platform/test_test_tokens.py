"""The suite's own tokens outlive a long run: module-level headers and cookies are minted when the module
is collected, and a full run lasts longer than a token may live (15 minutes)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from shared.identity import parse_jwks, verify_token
from shared.settings import CommonSettings
from tests import forged_tokens as forged
from tests import support
from tests.forged_tokens import forged_tokens

SETTINGS = CommonSettings(jwks_json=support.TEST_JWKS_JSON)


def _verify(token: str) -> None:
    keys = parse_jwks(json.loads(support.TEST_JWKS_JSON))
    verify_token(token, keys.get, SETTINGS.oidc_issuer, SETTINGS.oidc_audience)


def _issued_at(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["iat"])


def test_a_module_level_token_is_minted_again_before_it_expires() -> None:
    headers = support.auth("d1s1-staff1")
    cookies = support.token_cookies("d1-hq")
    bearer = headers["Authorization"].removeprefix("Bearer ")
    cookie = cookies["jpass_token"]
    _verify(bearer)

    support.refresh_tokens()  # young tokens stay as they are
    assert headers["Authorization"] == f"Bearer {bearer}" and cookies["jpass_token"] == cookie

    for tokens in (headers, cookies):  # as if collected six minutes ago
        assert isinstance(tokens, support.FreshTokens)
        tokens._minted_at -= 6 * 60
    time.sleep(1.1)  # a new `iat`
    support.refresh_tokens()
    renewed = headers["Authorization"].removeprefix("Bearer ")
    assert renewed != bearer and _issued_at(renewed) > _issued_at(bearer)
    assert cookies["jpass_token"] != cookie
    _verify(renewed)
    _verify(cookies["jpass_token"])


def test_the_forged_tokens_are_minted_again_every_five_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    first = forged_tokens()["no name"][0]
    assert forged_tokens()["no name"][0] == first  # the same within five minutes
    later = time.time() + 5 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    try:
        again = forged_tokens()["no name"][0]
    finally:
        # tokens minted at the faked time are issued in the future: the next period's real callers must not
        # get them from the cache (they were refused as not yet valid: invalid_token, not their own code)
        forged._forged_tokens.cache_clear()
    assert again != first and _issued_at(again) >= _issued_at(first) + 5 * 60
