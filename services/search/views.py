"""The shapes the API and the pages show (typed response models; labels live in rules.py), built from
read-model rows. The JSON of each is a stable interface (SPEC §7): field names, nulls and types stay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from services.search import dashboard, queries, rules, saved
from services.search.db import Contract, ContractRequest, MemoHistory
from shared import rules as shared_rules
from shared.events import PROGRAM_LABELS
from shared.identity import User

CONTRACT_NOT_FOUND = "指定された契約は見つかりません。"  # outside the user's scope too: it looks like none

Colour = Literal["gray", "green", "blue", "red", "yellow", "white"]
ReplacementMark = Literal["○", "ー", "未", ""]


class _RowFields(BaseModel):
    """A list row's fields. `selection` is the recorded category in a row, the whole choice in the detail."""

    contract_no: str
    final_payment_date: str = Field(description="YYYY-MM-DD")
    final_payment_date_label: str = Field(description="最終回年月日 | リース満了年月日")
    contract_kind: str
    result_input_deadline: str = Field(description="YYYY-MM-DD: two months before the final date")
    selection: Any
    selection_label: str
    replacement_mark: ReplacementMark = Field(
        description="○ 代替有 | ー 代替無 | 未 not entered in time | ''"
    )
    replacement_model: str | None
    completed: bool
    handling_status: str = Field(description="unselected | selected | in_progress | completed")
    handling_status_label: str
    contractor_name: str
    contractor_name_kana: str
    inspection_ym: str | None = Field(description="predicted next inspection YYYY-MM")
    inspection_no: int | None = Field(description="which inspection (1 = first)")
    inspection_may_differ: bool
    model: str
    registration_no: str
    staff_code: str
    store_code: str
    store_name: str
    color: Colour
    transferred_in: bool
    program: str


class ContractRow(_RowFields):
    """A row of 最終回対象顧客一覧 (SPEC §7 row, plus labels)."""

    selection: str | None = Field(description="the recorded category (early_payoff | cash | …) or null")


class ContractList(BaseModel):
    total: int
    truncated: bool = Field(description="more than max_rows matched: only the first max_rows are listed")
    max_rows: int
    message: str | None = Field(description="what to do when truncated")
    items: list[ContractRow]


def _ym(year_month: tuple[int, int, int] | None) -> str | None:
    return f"{year_month[0]:04d}-{year_month[1]:02d}" if year_month else None


def _row(c: Any, today: date) -> dict[str, Any]:
    """A row's fields (SPEC §7 row, plus labels) from a Contract or a plain row of its columns."""
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


_ROWS = TypeAdapter(list[ContractRow])


def rows(contracts: Iterable[Any], today: date) -> list[ContractRow]:
    """List rows from Contracts or plain rows of their columns. Validated in one pass: a model built per row
    costs twice as much (100 rows: 0.34 → 0.19 ms), its Python __init__ being most of it."""
    return _ROWS.validate_python([_row(c, today) for c in contracts])


def contract_list(total: int, contracts: Sequence[Any], today: date) -> ContractList:
    truncated = total > queries.MAX_ROWS
    return ContractList(
        total=total,
        truncated=truncated,
        max_rows=queries.MAX_ROWS,
        message=too_many_message() if truncated else None,
        items=rows(contracts, today),
    )


def too_many_message() -> str:
    return (
        f"表示できる件数は{queries.MAX_ROWS}件までです。検索条件を絞るか、"
        "本部または店長機にて顧客リスト（csv）出力のうえ、ご確認ください。"
    )


# --------------------------------------------------------------------------------------------
# 顧客詳細


class ContractDetails(BaseModel):
    dealer_code: str
    dealer_name: str
    contractor_name_kana: str
    contractor_postal_code: str
    contractor_address: str
    brand: str
    vehicle_use: str
    first_registration_date: str
    program: str
    program_label: str
    final_payment_amount: int = Field(description="yen")
    annual_rate: float
    tfc_handling: str | None
    tfc_handling_label: str | None
    receivable_purchased: bool
    status: str


class MemoChange(BaseModel):
    seq: int
    text: str
    author: str
    updated_at: str


class Memo(BaseModel):
    text: str | None
    author: str | None
    updated_at: str | None
    history: list[MemoChange]


class Selection(BaseModel):
    category: str
    category_label: str
    replacement: str | None = Field(description="yes | no")
    replacement_model: str | None
    confirmation_received_on: str | None
    late: bool
    recorded_by: str | None
    recorded_at: str | None


class CurrentRequest(BaseModel):
    """The contract's latest request (of any type)."""

    request_id: str
    type: str | None
    status: str | None
    status_label: str | None
    reception_no: str | None
    updated_at: str | None
    href: str


class RequestItem(BaseModel):
    request_id: str
    type: str
    type_label: str
    status: str
    status_label: str
    reception_no: str | None
    result: str | None = Field(description="TFC's 審査結果 of a 再分割審査申込: approved | declined")
    result_label: str | None
    payoff_amount: int | None = Field(description="TFC's 早期完済金額 (yen)")
    updated_at: str
    href: str


class ApprovedPlan(BaseModel):
    """The 再分割 plan TFC approved: the request's plan as selection simulated it (its figures are null only
    for a request whose status events carried no plan), with the request's id and 受付番号."""

    model_config = ConfigDict(extra="allow")

    principal: int | None = None
    months: int | None = None
    annual_rate: float | None = None
    first_payment: int | None = None
    monthly_payment: int | None = None
    total_payment: int | None = None
    total_interest: int | None = None
    request_id: str
    reception_no: str | None


class RefinanceWindow(BaseModel):
    from_: str = Field(alias="from")
    to: str


class DetailAction(BaseModel):
    key: str
    label: str
    href: str
    enabled: bool
    reason: str


class ContractDetail(_RowFields):
    """顧客詳細: the row's fields plus the contract, memo, selection and requests (SPEC §7)."""

    contract: ContractDetails
    memo: Memo
    selection_category: str | None
    selection: Selection | None
    request: CurrentRequest | None
    requests: list[RequestItem]
    approved_plan: ApprovedPlan | None
    seq: int
    refinance_window: RefinanceWindow
    actions: list[DetailAction]


def request_item(r: ContractRequest) -> RequestItem:
    return RequestItem(
        request_id=r.request_id,
        type=r.type,
        type_label=shared_rules.REQUEST_TYPE_LABELS.get(r.type, r.type),
        status=r.status,
        status_label=r.status_label,
        reception_no=r.reception_no,
        result=r.result,
        result_label=shared_rules.REFINANCE_RESULT_LABELS.get(r.result or "", None),
        payoff_amount=r.payoff_amount,
        updated_at=r.at.isoformat(),
        href=f"/requests/{r.request_id}",
    )


def return_request_id(c: Contract, requests: Sequence[ContractRequest]) -> str | None:
    """The contract's 車両返却 request: of its requests, else the current one when it is a return (rows from
    before request types have no type: all were returns)."""
    returns = [r.request_id for r in requests if r.type == "vehicle_return"]
    if returns:
        return returns[0]
    return c.request_id if c.request_type in (None, "vehicle_return") else None


def approved_plan(requests: Sequence[ContractRequest]) -> ApprovedPlan | None:
    """The 再分割 plan TFC approved (SPEC §9.2): the completed 再分割審査申込 with result approved."""
    for r in requests:
        if r.type == "refinance_application" and r.status == "completed" and r.result == "approved":
            return ApprovedPlan(
                **{**(r.plan or {}), "request_id": r.request_id, "reception_no": r.reception_no}
            )
    return None


def _memo(c: Contract, history: list[MemoHistory]) -> Memo:
    if c.memo_seq is None:
        return Memo(text=None, author=None, updated_at=None, history=[])
    return Memo(
        text=c.memo_text,
        author=c.memo_author,
        updated_at=c.memo_updated_at.isoformat() if c.memo_updated_at else None,
        history=[
            MemoChange(seq=h.seq, text=h.text, author=h.author, updated_at=h.updated_at.isoformat())
            for h in history
        ],
    )


def _selection(c: Contract) -> Selection | None:
    if not c.selection_category:
        return None
    return Selection(
        category=c.selection_category,
        category_label=rules.SELECTION_LABELS[c.selection_category],
        replacement=c.replacement,
        replacement_model=c.replacement_model,
        confirmation_received_on=c.confirmation_received_on.isoformat()
        if c.confirmation_received_on
        else None,
        late=c.selection_late,
        recorded_by=c.selection_recorded_by,
        recorded_at=c.selection_recorded_at.isoformat() if c.selection_recorded_at else None,
    )


def _current_request(c: Contract) -> CurrentRequest | None:
    if not c.request_id:
        return None
    return CurrentRequest(
        request_id=c.request_id,
        type=c.request_type,
        status=c.request_status,
        status_label=c.request_status_label,
        reception_no=c.request_reception_no,
        updated_at=c.request_updated_at.isoformat() if c.request_updated_at else None,
        href=f"/requests/{c.request_id}",
    )


def detail(
    c: Contract,
    today: date,
    role: str,
    history: list[MemoHistory],
    requests: Sequence[ContractRequest] = (),
) -> ContractDetail:
    """The customer detail (顧客詳細): the row plus contract, memo, selection, requests and actions."""
    refinance_from, refinance_to = rules.refinance_window(c.final_payment_date)
    actions = rules.detail_actions(
        contract_no=c.contract_no,
        role=role,
        final_payment_date=c.final_payment_date,
        today=today,
        selection_category=c.selection_category,
        return_request_id=return_request_id(c, requests),
        program=c.program,
        requests=[shared_rules.RequestFact(r.request_id, r.type, r.status, r.result) for r in requests],
    )
    return ContractDetail(
        **{**_row(c, today), "selection": _selection(c)},
        contract=ContractDetails(
            dealer_code=c.dealer_code,
            dealer_name=c.dealer_name,
            contractor_name_kana=c.contractor_name_kana,
            contractor_postal_code=c.contractor_postal_code,
            contractor_address=c.contractor_address,
            brand=c.brand,
            vehicle_use=c.vehicle_use,
            first_registration_date=c.first_registration_date,
            program=c.program,
            program_label=PROGRAM_LABELS.get(c.program, c.program),
            final_payment_amount=c.final_payment_amount,
            annual_rate=float(c.annual_rate),
            tfc_handling=c.tfc_handling,
            tfc_handling_label=rules.tfc_handling_label(c.tfc_handling),
            receivable_purchased=c.receivable_purchased,
            status=c.status,
        ),
        memo=_memo(c, history),
        selection_category=c.selection_category,
        request=_current_request(c),
        requests=[request_item(r) for r in requests],
        approved_plan=approved_plan(requests),
        seq=c.seq,
        refinance_window=RefinanceWindow(
            **{"from": refinance_from.isoformat(), "to": refinance_to.isoformat()}
        ),
        actions=[
            DetailAction(key=a.key, label=a.label, href=a.href, enabled=a.enabled, reason=a.reason)
            for a in actions
        ],
    )


# --------------------------------------------------------------------------------------------
# Dashboard


DASHBOARD_ROLES = ("hq", "store_manager")
DASHBOARD_FORBIDDEN = "ダッシュボードは本部または店長のみ利用できます。"


class Scope(BaseModel):
    level: Literal["dealer", "store"]
    dealer_code: str
    dealer_name: str
    store_code: str | None
    store_name: str | None


class SelectionGroup(BaseModel):
    key: str
    label: str
    selections: int
    replacement_yes: int
    replacement_rate: float | None = Field(description="代替率 0–1; null without selections")
    replacement_rate_label: str
    on_time: int
    on_time_rate: float | None
    on_time_rate_label: str


class SelectionFigures(BaseModel):
    total: SelectionGroup
    by_store: list[SelectionGroup]
    by_staff: list[SelectionGroup]


class StoreCount(BaseModel):
    store_code: str
    store_name: str
    count: int


class StatusCount(BaseModel):
    status_label: str
    count: int


class ReturnsInProgress(BaseModel):
    total: int
    by_store: list[StoreCount]
    by_status: list[StatusCount]


class ApprovalStep(BaseModel):
    status: str
    label: str
    count: int
    median_seconds: float | None
    median_label: str


class InspectionHighlights(BaseModel):
    total: int
    months_ahead: int
    limit: int
    items: list[ContractRow]


class Dashboard(BaseModel):
    today: str
    scope: Scope
    selections: SelectionFigures
    returns_in_progress: ReturnsInProgress
    approval_steps: list[ApprovalStep]
    inspection_highlights: InspectionHighlights


def _selection_group(g: dashboard.SelectionCounts) -> SelectionGroup:
    return SelectionGroup(
        key=g.key,
        label=g.label,
        selections=g.selections,
        replacement_yes=g.replacement_yes,
        replacement_rate=g.replacement_rate,
        replacement_rate_label=dashboard.percent_label(g.replacement_rate),
        on_time=g.on_time,
        on_time_rate=g.on_time_rate,
        on_time_rate_label=dashboard.percent_label(g.on_time_rate),
    )


async def load_dashboard(session: AsyncSession, user: User, today: date) -> Dashboard:
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
    hq = user.role == "hq"
    return Dashboard(
        today=today.isoformat(),
        scope=Scope(
            level="dealer" if hq else "store",
            dealer_code=user.dealer_code,
            dealer_name=user.dealer_name,
            store_code=None if hq else user.store_code,
            store_name=None if hq else user.store_name,
        ),
        selections=SelectionFigures(
            total=_selection_group(dashboard.total_counts(by_store)),
            by_store=[_selection_group(g) for g in by_store],
            by_staff=[_selection_group(g) for g in by_staff],
        ),
        returns_in_progress=ReturnsInProgress(
            total=sum(returns_by_store.values()),
            by_store=[
                StoreCount(store_code=code, store_name=name, count=n)
                for (code, name), n in sorted(returns_by_store.items())
            ],
            by_status=[StatusCount(status_label=label, count=n) for label, n in returns_by_status.items()],
        ),
        approval_steps=[
            ApprovalStep(
                status=s.status,
                label=s.label,
                count=s.count,
                median_seconds=s.median_seconds,
                median_label=s.median_label,
            )
            for s in steps
        ],
        inspection_highlights=InspectionHighlights(
            total=highlight_total,
            months_ahead=dashboard.HIGHLIGHT_MONTHS_AHEAD,
            limit=dashboard.HIGHLIGHT_LIMIT,
            items=rows(highlight_rows, today),
        ),
    )


# --------------------------------------------------------------------------------------------
# Saved searches


class SavedSearch(BaseModel):
    id: int
    name: str
    params: dict[str, str] = Field(description="the search conditions (mode, model, final_from …)")
    description: str = Field(description="the conditions in words")
    href: str = Field(description="the list page with these conditions")
    updated_at: str


class SavedSearchList(BaseModel):
    items: list[SavedSearch]


def saved_search(v: saved.SavedView) -> SavedSearch:
    return SavedSearch(
        id=v.id, name=v.name, params=v.params, description=v.description, href=v.href, updated_at=v.updated_at
    )
