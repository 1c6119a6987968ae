"""Presentation of read-model rows for the API, the pages and the CSV (labels live in rules.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.search import dashboard, queries, rules
from services.search.db import Contract, ContractRequest, MemoHistory
from shared import rules as shared_rules
from shared.events import PROGRAM_LABELS
from shared.identity import User

CONTRACT_NOT_FOUND = "指定された契約は見つかりません。"  # outside the user's scope too: it looks like none


def _ym(year_month: tuple[int, int, int] | None) -> str | None:
    return f"{year_month[0]:04d}-{year_month[1]:02d}" if year_month else None


def row(c: Any, today: date) -> dict[str, Any]:
    """A list row (SPEC §7 shape plus labels) from a Contract or a plain row of its columns."""
    inspection = rules.next_inspection(c.first_registration_date, today)
    return {
        "contract_no": c.contract_no,
        "final_payment_date": c.final_payment_date.isoformat(),
        "final_payment_date_label": rules.final_date_label(c.contract_kind),
        "contract_kind": c.contract_kind,
        "result_input_deadline": rules.result_input_deadline(c.final_payment_date).isoformat(),
        "selection": c.selection_category,
        "selection_label": rules.SELECTION_LABELS.get(c.selection_category or "", ""),
        "replacement_mark": rules.replacement_mark(
            c.replacement, c.final_payment_date, today, c.selection_category is not None, c.completed
        ),
        "replacement_model": c.replacement_model,
        "completed": c.completed,
        "handling_status": c.handling_status,
        "handling_status_label": rules.HANDLING_STATUS_LABELS[c.handling_status],
        "contractor_name": c.contractor_name,
        "contractor_name_kana": c.contractor_name_kana,
        "inspection_ym": _ym(inspection),
        "inspection_no": inspection[2] if inspection else None,
        "inspection_may_differ": rules.prediction_may_differ(c.vehicle_use, c.first_registration_date),
        "model": c.model,
        "registration_no": c.registration_no,
        "staff_code": c.staff_code,
        "store_code": c.store_code,
        "store_name": c.store_name,
        "color": rules.row_colour(
            c.final_payment_date,
            today,
            transferred_in=c.transferred_in,
            tfc_handling=c.tfc_handling,
            completed=c.completed,
        ),
        "transferred_in": c.transferred_in,
        "program": c.program,
    }


def request_item(r: ContractRequest) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "type": r.type,
        "type_label": shared_rules.REQUEST_TYPE_LABELS.get(r.type, r.type),
        "status": r.status,
        "status_label": r.status_label,
        "reception_no": r.reception_no,
        "result": r.result,
        "result_label": shared_rules.REFINANCE_RESULT_LABELS.get(r.result or "", None),
        "payoff_amount": r.payoff_amount,
        "updated_at": r.at.isoformat(),
        "href": f"/requests/{r.request_id}",
    }


def return_request_id(c: Contract, requests: Sequence[ContractRequest]) -> str | None:
    """The contract's 車両返却 request: of its requests, else the current one when it is a return (rows from
    before request types have no type: all were returns)."""
    returns = [r.request_id for r in requests if r.type == "vehicle_return"]
    if returns:
        return returns[0]
    return c.request_id if c.request_type in (None, "vehicle_return") else None


def approved_plan(requests: Sequence[ContractRequest]) -> dict[str, Any] | None:
    """The 再分割 plan TFC approved (SPEC §9.2): the completed 再分割審査申込 with result approved."""
    for r in requests:
        if r.type == "refinance_application" and r.status == "completed" and r.result == "approved":
            return {**(r.plan or {}), "request_id": r.request_id, "reception_no": r.reception_no}
    return None


def detail(
    c: Contract,
    today: date,
    role: str,
    history: list[MemoHistory],
    requests: Sequence[ContractRequest] = (),
) -> dict[str, Any]:
    """The customer detail (顧客詳細): the row plus contract, memo, selection, requests and actions."""
    refinance_from, refinance_to = rules.refinance_window(c.final_payment_date)
    return {
        **row(c, today),
        "contract": {
            "dealer_code": c.dealer_code,
            "dealer_name": c.dealer_name,
            "contractor_name_kana": c.contractor_name_kana,
            "contractor_postal_code": c.contractor_postal_code,
            "contractor_address": c.contractor_address,
            "brand": c.brand,
            "vehicle_use": c.vehicle_use,
            "first_registration_date": c.first_registration_date,
            "program": c.program,
            "program_label": PROGRAM_LABELS.get(c.program, c.program),
            "final_payment_amount": c.final_payment_amount,
            "annual_rate": float(c.annual_rate),
            "tfc_handling": c.tfc_handling,
            "tfc_handling_label": rules.tfc_handling_label(c.tfc_handling),
            "receivable_purchased": c.receivable_purchased,
            "status": c.status,
        },
        "memo": {
            "text": c.memo_text,
            "author": c.memo_author,
            "updated_at": c.memo_updated_at.isoformat() if c.memo_updated_at else None,
            "history": [
                {"seq": h.seq, "text": h.text, "author": h.author, "updated_at": h.updated_at.isoformat()}
                for h in history
            ],
        }
        if c.memo_seq is not None
        else {"text": None, "author": None, "updated_at": None, "history": []},
        "selection_category": c.selection_category,
        "selection": {
            "category": c.selection_category,
            "category_label": rules.SELECTION_LABELS[c.selection_category],
            "replacement": c.replacement,
            "replacement_model": c.replacement_model,
            "confirmation_received_on": c.confirmation_received_on.isoformat()
            if c.confirmation_received_on
            else None,
            "late": c.selection_late,
            "recorded_by": c.selection_recorded_by,
            "recorded_at": c.selection_recorded_at.isoformat() if c.selection_recorded_at else None,
        }
        if c.selection_category
        else None,
        "request": {
            "request_id": c.request_id,
            "type": c.request_type,
            "status": c.request_status,
            "status_label": c.request_status_label,
            "reception_no": c.request_reception_no,
            "updated_at": c.request_updated_at.isoformat() if c.request_updated_at else None,
            "href": f"/requests/{c.request_id}",
        }
        if c.request_id
        else None,
        "requests": [request_item(r) for r in requests],
        "approved_plan": approved_plan(requests),
        "seq": c.seq,
        "refinance_window": {"from": refinance_from.isoformat(), "to": refinance_to.isoformat()},
        "actions": [
            {"key": a.key, "label": a.label, "href": a.href, "enabled": a.enabled, "reason": a.reason}
            for a in rules.detail_actions(
                contract_no=c.contract_no,
                role=role,
                final_payment_date=c.final_payment_date,
                today=today,
                selection_category=c.selection_category,
                return_request_id=return_request_id(c, requests),
                program=c.program,
                requests=[
                    shared_rules.RequestFact(r.request_id, r.type, r.status, r.result) for r in requests
                ],
            )
        ],
    }


# --------------------------------------------------------------------------------------------
# Dashboard


DASHBOARD_ROLES = ("hq", "store_manager")
DASHBOARD_FORBIDDEN = "ダッシュボードは本部または店長のみ利用できます。"


def _selection_group(g: dashboard.SelectionCounts) -> dict[str, Any]:
    return {
        "key": g.key,
        "label": g.label,
        "selections": g.selections,
        "replacement_yes": g.replacement_yes,
        "replacement_rate": g.replacement_rate,
        "replacement_rate_label": dashboard.percent_label(g.replacement_rate),
        "on_time": g.on_time,
        "on_time_rate": g.on_time_rate,
        "on_time_rate_label": dashboard.percent_label(g.on_time_rate),
    }


async def load_dashboard(session: AsyncSession, user: User, today: date) -> dict[str, Any]:
    """Every figure of the dashboard for the user's scope (hq: the dealer; store_manager: the store)."""
    by_store = await queries.selection_counts(session, user, "store")
    by_staff = await queries.selection_counts(session, user, "staff")
    returns = await queries.returns_in_progress(session, user)
    steps = dashboard.step_figures(await queries.status_changes(session, user))
    highlight_total, highlight_rows = await queries.inspection_highlights(session, user, today)
    returns_by_store: dict[tuple[str, str], int] = {}
    returns_by_status: dict[str, int] = {}
    for store_code, store_name, status_label, count in returns:
        returns_by_store[(store_code, store_name)] = returns_by_store.get((store_code, store_name), 0) + count
        returns_by_status[status_label] = returns_by_status.get(status_label, 0) + count
    return {
        "today": today.isoformat(),
        "scope": {
            "level": "dealer" if user.role == "hq" else "store",
            "dealer_code": user.dealer_code,
            "dealer_name": user.dealer_name,
            "store_code": None if user.role == "hq" else user.store_code,
            "store_name": None if user.role == "hq" else user.store_name,
        },
        "selections": {
            "total": _selection_group(dashboard.total_counts(by_store)),
            "by_store": [_selection_group(g) for g in by_store],
            "by_staff": [_selection_group(g) for g in by_staff],
        },
        "returns_in_progress": {
            "total": sum(returns_by_store.values()),
            "by_store": [
                {"store_code": code, "store_name": name, "count": n}
                for (code, name), n in sorted(returns_by_store.items())
            ],
            "by_status": [{"status_label": label, "count": n} for label, n in returns_by_status.items()],
        },
        "approval_steps": [
            {
                "status": s.status,
                "label": s.label,
                "count": s.count,
                "median_seconds": s.median_seconds,
                "median_label": s.median_label,
            }
            for s in steps
        ],
        "inspection_highlights": {
            "total": highlight_total,
            "months_ahead": dashboard.HIGHLIGHT_MONTHS_AHEAD,
            "limit": dashboard.HIGHLIGHT_LIMIT,
            "items": [row(c, today) for c in highlight_rows],
        },
    }
