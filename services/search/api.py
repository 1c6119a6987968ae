"""JSON API of the customer list: search, CSV export, customer detail."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from services.search import queries, rules, saved, views
from services.search.deps import Today, read_your_writes
from services.search.export import ENCODINGS, ExportSlots, SlotStreamingResponse, csv_chunks
from shared.identity import CurrentUser
from shared.refusal import Refusal

router = APIRouter(prefix="/api/v1", tags=["contracts"])

SEARCH_PARAMS = saved.SEARCH_PARAMS


def validated(request: Request) -> rules.Criteria:
    """Criteria from the query string, or 422 with the first error's message and code (all in `errors`)."""
    result = rules.validate_search({k: request.query_params.get(k, "") for k in SEARCH_PARAMS})
    if result.criteria is None:
        raise Refusal.invalid(result.errors)
    return result.criteria


@router.get("/contracts", summary="最終回対象顧客一覧の検索（最大100件）")
async def search_contracts(
    request: Request,
    user: CurrentUser,
    today: Today,
    mode: str = Query("general", description="individual | general | inspection"),
    registration_no: str | None = Query(None, description="登録番号（部分一致）"),
    contractor_name: str | None = Query(None, description="契約者名（漢字・カナ、部分一致）"),
    contract_no: str | None = Query(None, description="契約番号（完全一致）"),
    final_from: str | None = Query(None, description="最終回期日 YYYY-MM から"),
    final_to: str | None = Query(None, description="最終回期日 YYYY-MM まで"),
    model: str | None = Query(None, description="車種（部分一致）"),
    handling_status: str | None = Query(None, description="unselected | selected | in_progress | completed"),
    program: str | None = Query(None, description="制度コード"),
    inspection: str | None = Query(None, description="1 | 2 | 3（初回・２回目・３回目車検）"),
    months_from: str | None = Query(None, description="車検前の月数 から（初回 0–35、他 0–23）"),
    months_to: str | None = Query(None, description="車検前の月数 まで"),
    sort: str = Query("final_date", description="final_date | staff_code"),
    after: str | None = Query(None, description="consistency token <contract_no>@<seq>"),
) -> views.ContractList:
    criteria = validated(request)
    await read_your_writes(request, user, after)
    async with request.app.state.runtime.sessionmaker() as session:
        total, rows = await queries.search(session, user, criteria, today)
    return views.contract_list(total, rows, today)


EXPORT_BUSY = "ただいま顧客リスト（CSV）出力が混み合っています。しばらくしてから再度お試しください。"


@router.get(
    "/contracts/export.csv",
    summary="顧客リスト（csv）出力（本部・店長のみ）",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 429: {"description": "too many exports running"}},
)
async def export_csv(
    request: Request,
    user: CurrentUser,
    today: Today,
    encoding: str = Query("cp932", description="cp932 (default, Excel) | utf-8-sig"),
) -> Response:
    if user.role not in ("hq", "store_manager"):
        raise Refusal("forbidden", "csv_forbidden", "顧客リスト（csv）出力は本部または店長のみ利用できます。")
    if encoding not in ENCODINGS:
        raise Refusal(
            "invalid", "invalid_encoding", "文字コードは cp932 または utf-8-sig を指定してください。"
        )
    criteria = validated(request)
    slots: ExportSlots = request.app.state.export_slots
    if not slots.take():
        raise Refusal("busy", "export_busy", EXPORT_BUSY)
    filename = f"顧客リスト_{today:%Y%m%d}.csv"
    charset = "Shift_JIS" if encoding == "cp932" else "UTF-8"
    return SlotStreamingResponse(
        csv_chunks(request.app.state.runtime.sessionmaker, user, criteria, today, encoding, slots),  # type: ignore[arg-type]
        slots,
        media_type=f"text/csv; charset={charset}",
        headers={
            "Content-Disposition": f'attachment; filename="customers_{today:%Y%m%d}.csv"; '
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


@router.get("/contracts/{contract_no}", summary="顧客詳細")
async def contract_detail(
    request: Request,
    user: CurrentUser,
    today: Today,
    contract_no: str,
    after: str | None = Query(None, description="consistency token <contract_no>@<seq>"),
) -> views.ContractDetail:
    await read_your_writes(request, user, after)
    return await load_detail(request, user, contract_no, today)


async def load_detail(request: Request, user: Any, contract_no: str, today: date) -> views.ContractDetail:
    async with request.app.state.runtime.sessionmaker() as session:
        c = await queries.get_contract(session, user, contract_no)
        if c is None:
            raise Refusal("not_found", "contract_not_found", views.CONTRACT_NOT_FOUND)
        history = await queries.memo_history(session, contract_no)
        requests = await queries.contract_requests(session, contract_no)
    return views.detail(c, today, user.role, history, requests)


# --------------------------------------------------------------------------------------------
# Dashboard and saved searches (beyond the manual)


@router.get(
    "/dashboard", summary="ダッシュボード（本部：販売会社全体・店舗別、店長：自店舗）", tags=["dashboard"]
)
async def dashboard(request: Request, user: CurrentUser, today: Today) -> views.Dashboard:
    if user.role not in views.DASHBOARD_ROLES:
        raise Refusal("forbidden", "dashboard_forbidden", views.DASHBOARD_FORBIDDEN)
    async with request.app.state.runtime.sessionmaker() as session:
        return await views.load_dashboard(session, user, today)


class SavedSearchIn(BaseModel):
    name: str = Field(description="保存名（50文字以内）")
    params: dict[str, Any] = Field(description="最終回対象顧客一覧の検索条件（mode, model, final_from …）")


@router.get("/saved-searches", summary="保存した検索条件の一覧（本人のみ）", tags=["saved-searches"])
async def list_saved_searches(request: Request, user: CurrentUser) -> views.SavedSearchList:
    async with request.app.state.runtime.sessionmaker() as session:
        return views.SavedSearchList(
            items=[views.saved_search(v) for v in await saved.list_for(session, user)]
        )


@router.post(
    "/saved-searches", status_code=201, summary="検索条件を名前を付けて保存", tags=["saved-searches"]
)
async def create_saved_search(request: Request, user: CurrentUser, body: SavedSearchIn) -> views.SavedSearch:
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        return views.saved_search(await saved.save(session, user, body.name, body.params))


@router.delete(
    "/saved-searches/{saved_id}", status_code=204, summary="保存した検索条件の削除", tags=["saved-searches"]
)
async def delete_saved_search(
    request: Request, user: CurrentUser, saved_id: int = Path(ge=1, le=saved.ID_MAX)
) -> Response:
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        await saved.delete(session, user, saved_id)
    return Response(status_code=204)
