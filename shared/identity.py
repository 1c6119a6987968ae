"""Identity: signed tokens (HS256 JWT) issued by the gateway's IdP; services verify and trust nothing else.

Pages send the token in the `jpass_token` cookie (HttpOnly, SameSite=Strict); the JSON API in
`Authorization: Bearer`. Roles: staff, store_manager, hq. Scope: dealer (always) and store
(staff, store_manager).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import jwt
from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ValidationError

Role = Literal["staff", "store_manager", "hq"]
ROLE_LABELS: dict[str, str] = {"staff": "営業スタッフ", "store_manager": "店長", "hq": "本部"}
TOKEN_COOKIE = "jpass_token"
TOKEN_TTL_S = 8 * 3600


class User(BaseModel):
    user_id: str
    name: str
    role: Role
    dealer_code: str
    dealer_name: str = ""
    store_code: str | None = None
    store_name: str | None = None
    staff_code: str | None = None
    email: str | None = None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    def sees_store(self, dealer_code: str, store_code: str) -> bool:
        """Scope rule: hq sees its whole dealer; staff and store managers their own store."""
        if dealer_code != self.dealer_code:
            return False
        return self.role == "hq" or store_code == self.store_code


class AuthError(HTTPException):
    def __init__(self, detail: str = "ログインしてください。", code: str = "unauthenticated") -> None:
        super().__init__(status_code=401, detail={"detail": detail, "code": code})


def issue_token(user: User, secret: str, issuer: str = "jpass-idp", ttl_s: int = TOKEN_TTL_S) -> str:
    now = int(time.time())
    claims = {"sub": user.user_id, "iss": issuer, "iat": now, "exp": now + ttl_s, **user.model_dump()}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(token: str, secret: str, issuer: str = "jpass-idp") -> User:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=issuer, options={"require": ["exp", "sub", "iss"]}
        )
    except jwt.ExpiredSignatureError as e:
        raise AuthError("ログインの有効期限が切れました。再度ログインしてください。", "token_expired") from e
    except jwt.PyJWTError as e:
        raise AuthError("認証情報が正しくありません。再度ログインしてください。", "invalid_token") from e
    try:  # a valid signature over claims we cannot use (no role, an unknown role, no dealer) opens nothing
        return User.model_validate(claims)
    except ValidationError as e:
        raise AuthError("認証情報が正しくありません。再度ログインしてください。", "invalid_token") from e


def token_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def current_user(request: Request) -> User:
    """FastAPI dependency. The app must have `app.state.settings` (a CommonSettings)."""
    token = token_from_request(request)
    if not token:
        raise AuthError()
    settings = request.app.state.settings
    return verify_token(token, settings.jwt_secret, settings.jwt_issuer)


async def authenticated_user(request: Request) -> User:
    """`current_user` as a dependency run on the event loop: FastAPI runs a plain `def` dependency in its
    thread pool, a hand-off per request that dominated the API's overhead under load (docs/performance.md)."""
    return current_user(request)


CurrentUser = Annotated[User, Depends(authenticated_user)]


def require_role(*roles: Role):
    """Dependency factory: 403 unless the user has one of `roles`."""

    async def _check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(
                status_code=403,
                detail={"detail": "この操作を行う権限がありません。", "code": "forbidden"},
            )
        return user

    return _check
