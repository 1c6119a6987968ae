"""Incoming events → read model updates."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search.db import Contract
from services.search.rules import normalise_name, normalise_plate
from shared.events import ContractSnapshot
from shared.messaging import subscribe
from shared.runtime import Runtime
from shared.topics import TFC_CONTRACTS

GROUP = "search"


async def apply_contract(session: AsyncSession, snapshot: ContractSnapshot) -> bool:
    """Upsert a TFC contract snapshot; older or equal versions change nothing. Returns True if applied."""
    existing = await session.get(Contract, snapshot.contract_no, with_for_update=True)
    if existing is not None and existing.version >= snapshot.version:
        return False
    values = snapshot.model_dump()
    values["search_name"] = (
        normalise_name(snapshot.contractor_name) + "|" + normalise_name(snapshot.contractor_name_kana)
    )
    values["search_plate"] = normalise_plate(snapshot.registration_no)
    values["updated_at"] = datetime.now(UTC)
    if existing is None:
        session.add(Contract(**values))
    else:
        for k, v in values.items():
            setattr(existing, k, v)
    return True


def register(runtime: Runtime) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = runtime.sessionmaker

    async def on_contract(snapshot: ContractSnapshot) -> None:
        async with sessionmaker() as session, session.begin():
            await apply_contract(session, snapshot)

    subscribe(
        runtime.broker,
        TFC_CONTRACTS,
        settings=runtime.settings,
        group_id=GROUP,
        model=ContractSnapshot,
        handler=on_contract,
    )
