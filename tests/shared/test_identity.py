from __future__ import annotations

import time

import jwt
import pytest

from devtools.demo import DEMO_USERS, USERS_BY_ID
from shared.identity import AuthError, issue_token, verify_token
from shared.settings import DEV_SIGNING_KEY, CommonSettings


def test_token_round_trip_keeps_identity_and_scope() -> None:
    user = USERS_BY_ID["d1s1-manager"]
    back = verify_token(issue_token(user, DEV_SIGNING_KEY), DEV_SIGNING_KEY)
    assert back == user
    assert back.sees_store("D001", "S0101")
    assert not back.sees_store("D001", "S0102")
    assert not back.sees_store("D002", "S0101")


def test_hq_sees_every_store_of_its_dealer_only() -> None:
    hq = USERS_BY_ID["d1-hq"]
    assert hq.sees_store("D001", "S0101") and hq.sees_store("D001", "S0102")
    assert not hq.sees_store("D002", "S0201")


@pytest.mark.parametrize(
    "make_token, code",
    [
        (lambda u: issue_token(u, "another-key-entirely-0123456789abcdef"), "invalid_token"),
        (lambda u: issue_token(u, DEV_SIGNING_KEY, ttl_s=-10), "token_expired"),
        (lambda u: issue_token(u, DEV_SIGNING_KEY)[:-4] + "AAAA", "invalid_token"),
        (lambda u: issue_token(u, DEV_SIGNING_KEY, issuer="someone-else"), "invalid_token"),
        (
            lambda u: jwt.encode({"sub": u.user_id, "exp": int(time.time()) + 60}, DEV_SIGNING_KEY),
            "invalid_token",
        ),
        (lambda u: "not-a-token", "invalid_token"),
    ],
)
def test_bad_tokens_are_refused(make_token, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthError) as e:
        verify_token(make_token(USERS_BY_ID["d1s1-staff1"]), DEV_SIGNING_KEY)
    assert e.value.status_code == 401 and e.value.detail["code"] == code


def test_production_refuses_the_dev_signing_key() -> None:
    with pytest.raises(ValueError, match="JPASS_JWT_SECRET"):
        CommonSettings(env="production")
    assert CommonSettings(env="production", jwt_secret="a-real-secret-from-the-vault-xyz").is_production


def test_demo_users_cover_two_dealers_two_stores_every_role() -> None:
    seen = {(u.dealer_code, u.store_code, u.role) for u in DEMO_USERS}
    for dealer, stores in (("D001", ("S0101", "S0102")), ("D002", ("S0201", "S0202"))):
        assert (dealer, None, "hq") in seen
        for store in stores:
            assert (dealer, store, "staff") in seen and (dealer, store, "store_manager") in seen
