"""Saved searches (保存した検索条件): a user's named search parameters of the customer list.

The rules are pure functions; the few database calls below them are thin."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.search import rules
from services.search.db import SavedSearch
from shared.identity import User
from shared.refusal import Refusal

SEARCH_PARAMS = (
    "mode",
    "registration_no",
    "contractor_name",
    "contract_no",
    "final_from",
    "final_to",
    "model",
    "handling_status",
    "program",
    "inspection",
    "months_from",
    "months_to",
    "sort",
    "done",
)
NAME_MAX = 50
PER_USER_MAX = 50
ID_MAX = 2_147_483_647  # the id column is a 32-bit integer
NOT_FOUND = "指定された検索条件は見つかりません。"


def not_found() -> Refusal:
    return Refusal("not_found", "saved_search_not_found", NOT_FOUND, "id")


MESSAGES = {
    "saved_search_name_required": "保存名を入力してください。",
    "saved_search_name_too_long": f"保存名は{NAME_MAX}文字以内で入力してください。",
    "saved_search_limit": f"保存できる検索条件は{PER_USER_MAX}件までです。",
}


def message_for(code: str) -> str:
    """The page's message for a refusal code carried over a redirect (never text from the URL)."""
    return MESSAGES.get(code, "検索条件を保存できませんでした。検索条件をご確認ください。") if code else ""


def normalise_params(raw: Mapping[str, Any]) -> dict[str, str]:
    """Only the list's own parameters, trimmed, without blanks; the mode's other fields dropped."""
    params = {k: str(raw[k]).strip() for k in SEARCH_PARAMS if raw.get(k) is not None}
    params = {k: v for k, v in params.items() if v}
    mode = params.get("mode") or "general"
    own = {
        "individual": {"registration_no", "contractor_name", "contract_no"},
        "general": {"final_from", "final_to", "model", "handling_status", "program"},
        "inspection": {"inspection", "months_from", "months_to"},
    }.get(mode, set())
    return {"mode": mode, **{k: v for k, v in params.items() if k in own or k in ("sort", "done")}}


def validate(name: str, raw_params: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(name, params) to store, or a Refusal with the message for the field at fault."""
    name = " ".join((name or "").split())
    if not name:
        code = "saved_search_name_required"
        raise Refusal("invalid", code, MESSAGES[code], "name")
    if len(name) > NAME_MAX:
        code = "saved_search_name_too_long"
        raise Refusal("invalid", code, MESSAGES[code], "name")
    params = normalise_params(raw_params)
    result = rules.validate_search(params)
    if result.criteria is None:
        first = result.errors[0]
        raise Refusal("invalid", first.code, first.message, "params")
    return name, params


def list_href(params: Mapping[str, str]) -> str:
    return "/contracts?" + urlencode([(k, params[k]) for k in SEARCH_PARAMS if k in params])


def describe(params: Mapping[str, str]) -> str:
    """A short Japanese summary of the conditions, e.g. 「汎用検索：車種 プリウス、最終回期日 2026-05～」."""
    labels = {
        "registration_no": "登録番号",
        "contractor_name": "契約者名",
        "contract_no": "契約番号",
        "model": "車種",
        "handling_status": "対応状況",
        "program": "制度",
    }
    mode = params.get("mode", "general")
    parts = []
    for key, label in labels.items():
        if key in params:
            value = params[key]
            if key == "handling_status":
                value = rules.HANDLING_STATUS_LABELS.get(value, value)
            parts.append(f"{label} {value}")
    if "final_from" in params or "final_to" in params:
        parts.append(f"最終回期日 {params.get('final_from', '')}～{params.get('final_to', '')}")
    if mode == "inspection":
        ordinal = int(params.get("inspection", "1") or 1)
        parts.append(
            f"{rules.INSPECTION_LABELS.get(ordinal, '')} "
            f"{params.get('months_from', '0')}～{params.get('months_to', '')}ヶ月前"
        )
    if params.get("sort") == "staff_code":
        parts.append("スタッフコード順")
    return f"{rules.MODE_LABELS.get(mode, mode)}：" + ("、".join(parts) if parts else "条件なし（すべて）")


@dataclass(frozen=True)
class SavedView:
    id: int
    name: str
    params: dict[str, str]
    description: str
    href: str
    updated_at: str


def view(s: SavedSearch) -> SavedView:
    params = json.loads(s.params)
    return SavedView(s.id, s.name, params, describe(params), list_href(params), s.updated_at.isoformat())


async def list_for(session: AsyncSession, user: User) -> list[SavedView]:
    stmt = (
        select(SavedSearch)
        .where(SavedSearch.user_id == user.user_id, SavedSearch.dealer_code == user.dealer_code)
        .order_by(SavedSearch.name)
    )
    return [view(s) for s in (await session.execute(stmt)).scalars().all()]


async def save(session: AsyncSession, user: User, name: str, raw_params: Mapping[str, Any]) -> SavedView:
    """Save under `name` (the same name again replaces its conditions). Commit is the caller's."""
    name, params = validate(name, raw_params)
    now = datetime.now(UTC)
    existing = (
        await session.execute(
            select(SavedSearch)
            .where(SavedSearch.user_id == user.user_id, SavedSearch.name == name)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if existing is None:
        count = (
            await session.execute(
                select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == user.user_id)
            )
        ).scalar_one()
        if count >= PER_USER_MAX:
            code = "saved_search_limit"
            raise Refusal("invalid", code, MESSAGES[code], "name")
        existing = SavedSearch(user_id=user.user_id, dealer_code=user.dealer_code, name=name, created_at=now)
        session.add(existing)
    existing.params = json.dumps(params, ensure_ascii=False, sort_keys=True)
    existing.updated_at = now
    await session.flush()
    return view(existing)


async def delete(session: AsyncSession, user: User, saved_id: int) -> None:
    saved = await session.get(SavedSearch, saved_id)
    if saved is None or saved.user_id != user.user_id:
        raise not_found()
    await session.delete(saved)
